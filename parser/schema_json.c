/*
 * `gpuform schema`: the spec language as a JSON Schema, generated from the tables that
 * validate specs, so editors (yaml-language-server) check and complete the same language
 * that gpuform accepts. specs/schema/gpuform-v1.json is this output, checked by a test.
 */
#include "parser/schema_int.h"

#include <jansson.h>
#include <string.h>

static json_t *type_json(const struct sch_type *t);

static const char *const interp_pattern = "^\\$\\{var\\.[A-Za-z_][A-Za-z0-9_]*\\}$";

/* A scalar may always be written as ${var.NAME}. */
static json_t *with_interp(json_t *schema)
{
    json_t *ref = json_pack("{s:s, s:s}", "type", "string", "pattern", interp_pattern);
    return json_pack("{s:[o,o]}", "anyOf", schema, ref);
}

static json_t *map_json(const struct sch_field *fields, size_t n)
{
    json_t *props = json_object(), *req = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ft = type_json(fields[i].type);
        if (fields[i].doc && json_is_object(ft))
            json_object_set_new(ft, "description", json_string(fields[i].doc));
        json_object_set_new(props, fields[i].name, ft);
        if (fields[i].flags & SCH_REQUIRED)
            json_array_append_new(req, json_string(fields[i].name));
    }
    json_t *o = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                          "additionalProperties", 0);
    if (json_array_size(req))
        json_object_set_new(o, "required", req);
    else
        json_decref(req);
    return o;
}

static json_t *clouds_json(void)
{
    json_t *props = json_object();
    for (int i = 0; i < CORE_CLOUD_COUNT; i++) {
        const struct sch_type *t = sch_cloud_type((enum core_cloud)i);
        json_object_set_new(props, core_cloud_name((enum core_cloud)i),
                            map_json(t->fields, t->nfields));
    }
    return json_pack("{s:s, s:o, s:b, s:i}", "type", "object", "properties", props,
                     "additionalProperties", 0, "minProperties", 1);
}

static json_t *type_json(const struct sch_type *t)
{
    switch (t->kind) {
    case SCH_STRING: /* any scalar is read as its text: `tier: 1` is the string "1" */
        return json_pack("{s:[s,s,s]}", "type", "string", "number", "boolean");
    case SCH_INT:
        return with_interp(
            json_pack("{s:s, s:f, s:f}", "type", "integer", "minimum", t->min, "maximum", t->max));
    case SCH_NUMBER:
        return with_interp(
            json_pack("{s:s, s:f, s:f}", "type", "number", "minimum", t->min, "maximum", t->max));
    case SCH_BOOL:
        return with_interp(json_pack("{s:s}", "type", "boolean"));
    case SCH_ENUM: {
        json_t *e = json_array();
        for (const char *const *v = t->enums; *v; v++)
            json_array_append_new(e, json_string(*v));
        return with_interp(json_pack("{s:o}", "enum", e));
    }
    case SCH_MAP:
        return map_json(t->fields, t->nfields);
    case SCH_LIST:
        return json_pack("{s:s, s:o}", "type", "array", "items", type_json(t->elem));
    case SCH_DICT: {
        json_t *o =
            json_pack("{s:s, s:o}", "type", "object", "additionalProperties", type_json(t->elem));
        if (t->key_pattern)
            json_object_set_new(o, "propertyNames", json_pack("{s:s}", "pattern", t->key_pattern));
        return o;
    }
    case SCH_CUSTOM: {
        if (!t->json)
            return clouds_json();
        json_t *j = json_loads(t->json, 0, NULL);
        /* Scalar forms may also be written as ${var.NAME}, as validate accepts. */
        json_t *type = json_object_get(j, "type");
        bool scalar =
            (type && json_is_string(type) && !strcmp(json_string_value(type), "string")) ||
            (json_object_get(j, "anyOf") && !json_object_get(j, "additionalProperties"));
        return scalar ? with_interp(j) : j;
    }
    }
    return json_object();
}

char *spec_json_schema(void)
{
    json_t *root = type_json(&sch_stack);
    if (!root)
        return NULL;
    json_object_set_new(root, "$schema",
                        json_string("https://json-schema.org/draft/2020-12/schema"));
    json_object_set_new(root, "$id", json_string("https://gpuform.dev/schema/gpuform-v1.json"));
    json_object_set_new(root, "title", json_string("gpuform stack (spec language v1)"));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    return s;
}
