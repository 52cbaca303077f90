/*
 * Reading and writing a whole state through any backend: the read-parse step with the
 * backup named when the document is damaged, and the serial-bump-serialize-write step,
 * shared by plan, apply, refresh, import and the state commands.
 */
#include "executor/backend.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int state_load(struct state_backend *b, const char *what, struct state **out, struct state_err *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    if (b->ops->read(b, &text, &len, err) != 0)
        return -1;
    if (!text)
        return 0;
    struct state_err perr;
    int rc = state_parse(text, len, what, out, &perr);
    free(text);
    if (rc != 0)
        state_fail(err, "%.700s (the previous state is in '%.250s')", perr.msg,
                   b->ops->backup_name(b));
    return rc;
}

int state_save(struct state_backend *b, struct state *st, struct state_err *err)
{
    st->serial++;
    size_t len = 0;
    char *text = state_serialize(st, &len);
    if (!text)
        return state_fail(err, "out of memory writing the state");
    int rc = b->ops->write(b, text, len, err);
    free(text);
    return rc;
}

void state_describe_text(const char *text, size_t len, char *out, size_t outlen)
{
    json_t *o = text ? json_loadb(text, len, 0, NULL) : NULL;
    json_t *serial = json_object_get(o, "serial"), *lineage = json_object_get(o, "lineage");
    if (!text)
        snprintf(out, outlen, "no state");
    else if (json_is_integer(serial) && json_is_string(lineage))
        snprintf(out, outlen, "serial %lld of lineage %.36s", (long long)json_integer_value(serial),
                 json_string_value(lineage));
    else
        snprintf(out, outlen, "a document that is not a gpuform state");
    json_decref(o);
}
