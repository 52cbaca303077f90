/*
 * Unit tests for the generated JSON Schema (parser/schema_json.c): it parses, it holds a
 * property for every key of every table the validator uses (a custom fragment that fails
 * to parse would silently drop one), its ranges, enums and required lists match the
 * tables, and its patterns accept the examples it gives.
 */
#include "parser/schema_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    char *text;
    json_t *root;
    json_t *other; /* a second document for comparisons */
};

static int schema_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->text = spec_json_schema();
    if (!f->text) {
        free(f);
        return -1;
    }
    json_error_t err;
    f->root = json_loads(f->text, 0, &err);
    *state = f;
    return 0;
}

static int schema_teardown(void **state)
{
    struct fixture *f = *state;
    json_decref(f->root);
    json_decref(f->other);
    free(f->text);
    free(f);
    return 0;
}

static json_t *at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        fail_msg("schema has no '%s'", key);
    return v;
}

/* The string value of `key`, failing (not crashing) when it is absent or not a string. */
static const char *str(json_t *o, const char *key)
{
    json_t *v = at(o, key);
    if (!json_is_string(v))
        fail_msg("schema '%s' is not a string", key);
    return json_string_value(v);
}

static bool is_reference_alternative(json_t *s)
{
    json_t *p = json_object_get(s, "pattern");
    return json_is_string(p) && strstr(json_string_value(p), "var") != NULL;
}

/*
 * Scalars may also be written as ${var.NAME}: the schema wraps them as
 * {"anyOf": [FORM, {"pattern": "^\\$\\{var..."}]}. Returns FORM, or `s` when not wrapped.
 */
static json_t *unwrap(json_t *s)
{
    json_t *any = json_object_get(s, "anyOf");
    if (json_is_array(any) && json_array_size(any) == 2 &&
        is_reference_alternative(json_array_get(any, 1)))
        return json_array_get(any, 0);
    return s;
}

static bool array_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static json_t *workload_props(struct fixture *f)
{
    return at(at(at(at(f->root, "properties"), "workloads"), "additionalProperties"), "properties");
}

static void test_schema_is_valid_json_with_draft_2020_12_header(void **state)
{
    struct fixture *f = *state;
    assert_non_null(f->root);
    assert_true(json_is_object(f->root));
    assert_string_equal(str(f->root, "$schema"), "https://json-schema.org/draft/2020-12/schema");
    assert_true(strlen(str(f->root, "$id")) > 0);
    assert_string_equal(str(f->root, "type"), "object");
    assert_true(json_is_false(at(f->root, "additionalProperties")));
}

static void test_schema_has_a_property_for_every_top_level_key(void **state)
{
    struct fixture *f = *state;
    json_t *props = at(f->root, "properties");
    assert_int_equal(json_object_size(props), sch_stack.nfields);
    for (size_t i = 0; i < sch_stack.nfields; i++) {
        json_t *p = json_object_get(props, sch_stack.fields[i].name);
        if (!json_is_object(p))
            fail_msg("no schema for top-level key '%s'", sch_stack.fields[i].name);
        json_t *d = json_object_get(p, "description");
        assert_true(json_is_string(d));
        assert_string_equal(json_string_value(d), sch_stack.fields[i].doc);
    }
}

static void test_schema_required_lists_match_the_tables(void **state)
{
    struct fixture *f = *state;
    json_t *req = at(f->root, "required");
    assert_true(json_is_array(req));
    assert_true(array_has(req, "version"));
    assert_true(array_has(req, "stack"));
    assert_true(array_has(req, "clouds"));
    assert_true(array_has(req, "workloads"));
    assert_false(array_has(req, "budgets"));
    assert_false(array_has(req, "hooks"));
    size_t required = 0;
    for (size_t i = 0; i < sch_stack.nfields; i++)
        required += (sch_stack.fields[i].flags & SCH_REQUIRED) != 0;
    assert_int_equal(json_array_size(req), required);
    json_t *wreq =
        at(at(at(at(f->root, "properties"), "workloads"), "additionalProperties"), "required");
    assert_true(array_has(wreq, "kind"));
    assert_true(array_has(wreq, "gpu"));
    assert_false(array_has(wreq, "nodes"));
}

static void test_schema_workloads_describe_every_workload_key(void **state)
{
    struct fixture *f = *state;
    json_t *w = at(at(f->root, "properties"), "workloads");
    assert_string_equal(str(w, "type"), "object");
    assert_string_equal(str(at(w, "propertyNames"), "pattern"), "^[a-z]([a-z0-9-]*[a-z0-9])?$");
    json_t *props = workload_props(f);
    const char *keys[] = {"kind",   "gpu",       "nodes", "replicas", "hours", "spot",
                          "verify", "placement", "data",  "labels",   "run",   "sites"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!json_is_object(json_object_get(props, keys[i])))
            fail_msg("workloads.additionalProperties.properties lacks '%s'", keys[i]);
    assert_int_equal(json_object_size(props), sizeof(keys) / sizeof(keys[0]));
    assert_true(json_is_false(at(at(w, "additionalProperties"), "additionalProperties")));
}

/* Walks a table and its schema side by side; `path` names the place for messages. */
static void check_type(json_t *schema, const struct sch_type *t, const char *path, int depth);

static void check_fields(json_t *obj, const struct sch_field *fields, size_t n, const char *path,
                         int depth)
{
    json_t *props = json_object_get(obj, "properties");
    if (!json_is_object(props))
        fail_msg("%s: no properties", path);
    if (json_object_size(props) != n)
        fail_msg("%s: %zu properties for %zu fields", path, json_object_size(props), n);
    json_t *req = json_object_get(obj, "required");
    for (size_t i = 0; i < n; i++) {
        char sub[512];
        snprintf(sub, sizeof(sub), "%s.%s", path, fields[i].name);
        json_t *p = json_object_get(props, fields[i].name);
        if (!json_is_object(p))
            fail_msg("%s is missing from the schema", sub);
        bool required = (fields[i].flags & SCH_REQUIRED) != 0;
        if (required != (req && array_has(req, fields[i].name)))
            fail_msg("%s: required in the table %s, in the schema %s", sub, required ? "yes" : "no",
                     required ? "no" : "yes");
        if (fields[i].type)
            check_type(p, fields[i].type, sub, depth + 1);
    }
}

static void check_type(json_t *schema, const struct sch_type *t, const char *path, int depth)
{
    assert_true(depth < 16);
    switch (t->kind) {
    case SCH_MAP:
        check_fields(schema, t->fields, t->nfields, path, depth);
        break;
    case SCH_DICT: {
        json_t *ap = json_object_get(schema, "additionalProperties");
        if (!json_is_object(ap))
            fail_msg("%s: no additionalProperties", path);
        check_type(ap, t->elem, path, depth + 1);
        if (t->key_pattern)
            assert_string_equal(str(at(schema, "propertyNames"), "pattern"), t->key_pattern);
        break;
    }
    case SCH_INT:
    case SCH_NUMBER: {
        json_t *num = unwrap(schema);
        if (num == schema)
            fail_msg("%s: a number without the ${var.NAME} alternative", path);
        assert_string_equal(str(num, "type"), t->kind == SCH_INT ? "integer" : "number");
        assert_float_equal(json_number_value(at(num, "minimum")), t->min, 1e-9);
        assert_float_equal(json_number_value(at(num, "maximum")), t->max, 1e-9);
        break;
    }
    case SCH_ENUM: {
        json_t *e = at(unwrap(schema), "enum");
        size_t n = 0;
        for (; t->enums[n]; n++)
            if (!array_has(e, t->enums[n]))
                fail_msg("%s: enum lacks '%s'", path, t->enums[n]);
        assert_int_equal(json_array_size(e), n);
        break;
    }
    case SCH_STRING: {
        /* "string", or any scalar read as its text: ["string", "number", "boolean"]. */
        json_t *type = at(schema, "type");
        if (json_is_string(type))
            assert_string_equal(json_string_value(type), "string");
        else if (!array_has(type, "string"))
            fail_msg("%s: a string field whose type does not allow strings", path);
        break;
    }
    case SCH_CUSTOM:
        /* A fragment that failed to parse leaves an object with only "description". */
        if (json_object_size(schema) < 2)
            fail_msg("%s: the custom JSON fragment is missing (did it parse?)", path);
        break;
    default:
        break;
    }
}

static void test_schema_matches_every_table_recursively(void **state)
{
    struct fixture *f = *state;
    check_type(f->root, &sch_stack, "stack", 0);
}

static void test_schema_describes_each_cloud(void **state)
{
    struct fixture *f = *state;
    json_t *clouds = at(at(f->root, "properties"), "clouds");
    assert_true(json_is_false(at(clouds, "additionalProperties")));
    assert_int_equal(json_integer_value(at(clouds, "minProperties")), 1);
    json_t *props = at(clouds, "properties");
    assert_int_equal(json_object_size(props), CORE_CLOUD_COUNT);
    for (int i = 0; i < CORE_CLOUD_COUNT; i++) {
        const char *name = core_cloud_name((enum core_cloud)i);
        const struct sch_type *t = sch_cloud_type((enum core_cloud)i);
        json_t *c = json_object_get(props, name);
        if (!json_is_object(c))
            fail_msg("no schema for cloud '%s'", name);
        check_fields(c, t->fields, t->nfields, name, 1);
        assert_true(array_has(at(c, "required"), "regions"));
    }
    assert_true(array_has(at(at(props, "gcp"), "required"), "project"));
    assert_true(array_has(at(at(props, "azure"), "required"), "subscription"));
    assert_true(
        json_is_object(json_object_get(at(at(props, "azure"), "properties"), "client_secret")));
}

static void test_schema_numbers_carry_the_validator_ranges(void **state)
{
    struct fixture *f = *state;
    json_t *nodes = unwrap(at(workload_props(f), "nodes"));
    assert_string_equal(str(nodes, "type"), "integer");
    assert_float_equal(json_number_value(at(nodes, "minimum")), 1, 0);
    /* gpu: "NAME:COUNT" or {name, count, memory}; count at most 64 in both. */
    json_t *gpu = unwrap(at(workload_props(f), "gpu"));
    json_t *obj = NULL;
    size_t i;
    json_t *alt;
    json_array_foreach(at(gpu, "anyOf"), i, alt)
    {
        if (json_object_get(alt, "properties"))
            obj = alt;
    }
    if (!obj)
        fail_msg("gpu has no mapping form");
    json_t *count = at(at(obj, "properties"), "count");
    assert_int_equal(json_integer_value(at(count, "maximum")), 64);
    json_t *kinds = at(unwrap(at(workload_props(f), "kind")), "enum");
    assert_int_equal(json_array_size(kinds), 4);
    assert_true(array_has(kinds, "federated"));
}

/* Collects every "pattern" string with the "examples" next to it. */
static void each_pattern(json_t *node, void (*fn)(const char *pattern, json_t *examples, void *ud),
                         void *ud)
{
    if (json_is_object(node)) {
        json_t *p = json_object_get(node, "pattern");
        if (json_is_string(p))
            fn(json_string_value(p), json_object_get(node, "examples"), ud);
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            each_pattern(v, fn, ud);
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            each_pattern(v, fn, ud);
        }
    }
}

static bool matches(const char *pattern, const char *s)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        fail_msg("pattern %s does not compile", pattern);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void check_examples(const char *pattern, json_t *examples, void *ud)
{
    size_t *count = ud;
    (*count)++;
    size_t i;
    json_t *v;
    json_array_foreach(examples, i, v)
    {
        if (json_is_string(v) && !matches(pattern, json_string_value(v)))
            fail_msg("example '%s' does not match its own pattern %s", json_string_value(v),
                     pattern);
    }
}

static void test_schema_patterns_compile_and_accept_their_examples(void **state)
{
    struct fixture *f = *state;
    size_t count = 0;
    each_pattern(f->root, check_examples, &count);
    assert_true(count > 10);
}

static void test_schema_reference_pattern_matches_whole_references_only(void **state)
{
    struct fixture *f = *state;
    json_t *ref = json_array_get(at(at(workload_props(f), "nodes"), "anyOf"), 1);
    const char *p = str(ref, "pattern");
    assert_true(matches(p, "${var.nodes}"));
    assert_true(matches(p, "${var._x9}"));
    assert_false(matches(p, "x${var.nodes}"));
    assert_false(matches(p, "${env.HOME}"));
    assert_false(matches(p, "${var.9x}"));
}

static void test_schema_patterns_agree_with_the_validator_on_names(void **state)
{
    struct fixture *f = *state;
    const char *p = str(at(at(at(f->root, "properties"), "workloads"), "propertyNames"), "pattern");
    assert_true(matches(p, "train"));
    assert_true(matches(p, "a-1"));
    assert_false(matches(p, "Train"));
    assert_false(matches(p, "t-"));
    assert_false(matches(p, "1t"));
    const char *stack = str(unwrap(at(at(f->root, "properties"), "stack")), "pattern");
    assert_true(matches(stack, "demo"));
    assert_false(matches(stack, "My_Stack"));
}

static json_t *size_schema(struct fixture *f)
{
    return at(at(at(workload_props(f), "data"), "properties"), "size");
}

static void test_schema_size_pattern_accepts_every_size_the_validator_accepts(void **state)
{
    struct fixture *f = *state;
    const char *p = str(unwrap(size_schema(f)), "pattern");
    const char *accepted[] = {"500GB", "2 TB", "80GiB", "1.5TB", "2tb", "80gib", "7Mb", "1B"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        uint64_t bytes;
        const char *why;
        assert_int_equal(spec_parse_size(accepted[i], &bytes, &why), 0);
        if (!matches(p, accepted[i]))
            fail_msg("the validator accepts size '%s' but the schema pattern %s does not",
                     accepted[i], p);
    }
    const char *refused[] = {"2", "2T", "-1GB", "abc"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_false(matches(p, refused[i]));
}

static void test_schema_size_pattern_and_validator_agree_on_dots(void **state)
{
    /* Regression: the validator accepted ".5GB" and "1.GB" while the schema pattern refused
     * them, so an editor and `gpuform validate` disagreed. Both refuse them now. */
    struct fixture *f = *state;
    const char *p = str(unwrap(size_schema(f)), "pattern");
    uint64_t bytes;
    const char *why;
    assert_int_not_equal(spec_parse_size(".5GB", &bytes, &why), 0);
    assert_false(matches(p, ".5GB"));
    assert_int_not_equal(spec_parse_size("1.GB", &bytes, &why), 0);
    assert_false(matches(p, "1.GB"));
    assert_int_equal(spec_parse_size("0.5GB", &bytes, &why), 0);
    assert_true(matches(p, "0.5GB"));
}

static void test_schema_custom_scalars_also_take_a_variable_reference(void **state)
{
    struct fixture *f = *state;
    json_t *fields[] = {
        size_schema(f),
        at(at(at(workload_props(f), "data"), "properties"), "location"),
        at(workload_props(f), "gpu"),
        at(workload_props(f), "hours"),
        at(at(f->root, "properties"), "stack"),
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        bool found = false;
        size_t k;
        json_t *alt;
        json_array_foreach(json_object_get(fields[i], "anyOf"), k, alt)
        {
            if (is_reference_alternative(alt) && matches(str(alt, "pattern"), "${var.x}"))
                found = true;
        }
        if (!found)
            fail_msg("field %zu has no ${var.NAME} alternative", i);
    }
}

static void test_schema_output_is_deterministic(void **state)
{
    struct fixture *f = *state;
    char *again = spec_json_schema();
    assert_non_null(again);
    int same = strcmp(again, f->text) == 0;
    free(again);
    assert_true(same);
}

static void test_schema_matches_the_checked_in_file(void **state)
{
    struct fixture *f = *state;
    const char *src = getenv("GPUFORM_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/specs/schema/gpuform-v1.json", src ? src : ".");
    json_error_t err;
    f->other = json_load_file(path, 0, &err);
    if (!f->other)
        skip(); /* not checked in yet */
    assert_true(json_equal(f->root, f->other));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, schema_setup, schema_teardown)
    const struct CMUnitTest tests[] = {
        T(test_schema_is_valid_json_with_draft_2020_12_header),
        T(test_schema_has_a_property_for_every_top_level_key),
        T(test_schema_required_lists_match_the_tables),
        T(test_schema_workloads_describe_every_workload_key),
        T(test_schema_matches_every_table_recursively),
        T(test_schema_describes_each_cloud),
        T(test_schema_numbers_carry_the_validator_ranges),
        T(test_schema_patterns_compile_and_accept_their_examples),
        T(test_schema_reference_pattern_matches_whole_references_only),
        T(test_schema_patterns_agree_with_the_validator_on_names),
        T(test_schema_size_pattern_accepts_every_size_the_validator_accepts),
        T(test_schema_size_pattern_and_validator_agree_on_dots),
        T(test_schema_custom_scalars_also_take_a_variable_reference),
        T(test_schema_output_is_deterministic),
        T(test_schema_matches_the_checked_in_file),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
