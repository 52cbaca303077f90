/*
 * Inside the parser: the schema tables that say what each mapping may hold, and the decoder
 * that walks the node tree against them. One table drives validation, decoding into
 * struct spec and the generated JSON Schema, so the three can't disagree.
 */
#ifndef GPUFORM_PARSER_SCHEMA_INT_H
#define GPUFORM_PARSER_SCHEMA_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "parser/node.h"
#include "parser/spec.h"

enum sch_kind {
    SCH_STRING, /* const char * */
    SCH_INT,    /* int, within [min, max] */
    SCH_NUMBER, /* double, within [min, max] */
    SCH_BOOL,   /* bool */
    SCH_ENUM,   /* int: index into `enums` */
    SCH_MAP,    /* fixed `fields`, decoded into the same struct */
    SCH_DICT,   /* free keys: array of elem_size structs, key at name_offset */
    SCH_LIST,   /* array of elem_size items */
    SCH_CUSTOM  /* `decode` does it all; `json` is its JSON Schema */
};

enum {
    SCH_REQUIRED = 1 << 0, /* missing is an error */
    SCH_ENV = 1 << 1,      /* ${env.NAME} allowed (endpoint and credential fields) */
    SCH_SECRET = 1 << 2,   /* must come from ${env.NAME}, never written literally */
    SCH_LOC = 1 << 3       /* record the value's location at loc_offset */
};

struct dctx;
struct sch_type;

struct sch_field {
    const char *name;
    const struct sch_type *type;
    size_t offset;       /* value in the parent struct */
    size_t count_offset; /* DICT and LIST: size_t element count */
    size_t loc_offset;   /* with SCH_LOC: struct core_loc */
    unsigned flags;
    const char *doc; /* one line, for the JSON Schema and `gpuform schema` */
};

typedef int (*sch_decode_fn)(struct dctx *c, const struct spec_node *n, void *dst,
                             const struct sch_field *f, const char *ctx);

struct sch_type {
    enum sch_kind kind;
    const char *what;               /* "an integer", "a GPU request": for messages */
    const char *title;              /* DICT elements: "workload" gives "workload 'chat'" */
    const struct sch_field *fields; /* MAP */
    size_t nfields;
    const struct sch_type *elem; /* DICT, LIST */
    size_t elem_size;
    size_t name_offset;       /* DICT: const char * key in the element */
    size_t value_offset;      /* DICT, LIST: where elem decodes inside the element */
    size_t elem_loc_offset;   /* DICT, LIST: struct core_loc in the element, or NOLOC */
    const char *const *enums; /* ENUM: NULL-terminated */
    double min, max;          /* INT, NUMBER */
    int (*check_key)(struct dctx *c, const struct spec_node *key, const char *ctx);
    const char *key_pattern;  /* DICT: JSON Schema pattern for the keys */
    sch_decode_fn decode;     /* CUSTOM */
    void (*init)(void *elem); /* DICT: prepares each element before decoding */
    const char *item;         /* DICT: "site" for "lists no site" when empty; NULL = allowed */
    const char *json;         /* CUSTOM: JSON Schema fragment */
};

#define NOLOC ((size_t)-1)

struct dctx {
    struct spec *spec;
    struct core_diags *diags;
    const struct spec_options *opts;
    /* The key that owns the mapping about to be decoded: "needs 'kind'" points there. */
    const struct core_loc *owner;
    /* "ctx\x1ffield" for every unknown key that was answered with "did you mean 'field'":
     * the missing field is then not reported again. Arena strings. */
    const char **suggested;
    size_t nsuggested;
    bool reference_failed; /* a ${...} could not be resolved: skip unused-variable */
};

/* True when an unknown key in `ctx` was already suggested to be `field`. */
bool sch_was_suggested(struct dctx *c, const char *ctx, const char *field);

/* The schema of a whole stack (the top-level mapping). */
extern const struct sch_type sch_stack;

/* Walks `n` against `type`, writing into `dst`. Reports problems; never stops early. */
int sch_decode(struct dctx *c, const struct spec_node *n, const struct sch_type *type, void *dst,
               const struct sch_field *f, const char *ctx);

/* Decodes the fields of mapping `n` into `dst`, except those named in `skip` (NULL-ended). */
int sch_decode_map(struct dctx *c, const struct spec_node *n, const struct sch_type *type,
                   void *dst, const char *ctx, const char *const *skip);

/*
 * The scalar text of `n` after ${...} interpolation, or NULL when absent (an unset
 * ${env.NAME}) or wrong (reported). *quoted tells whether it is a string by construction.
 */
const char *sch_scalar(struct dctx *c, const struct spec_node *n, const struct sch_field *f,
                       const char *ctx, bool *quoted);

/* Context strings ("'placement' of workload 'x'") are built on the stack, joined from up
 * to four parts (NULL ends early), cut at CTX_MAX - 1 bytes. */
#define CTX_MAX 512
void sch_ctx(char buf[CTX_MAX], const char *a, const char *b, const char *c, const char *d);

/* Message helpers: "'nodes' in workload 'x'" or "'version'" at top level. */
const char *sch_where(struct dctx *c, const char *key, const char *ctx);

/* An error at `n` with the given code; the message is printf-formatted. */
void sch_error(struct dctx *c, const struct spec_node *n, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sch_warning(struct dctx *c, const struct spec_node *n, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Values with units (parser/value.c). Each returns 0, or -1 with *why set to a hint. */
int spec_parse_size(const char *s, uint64_t *bytes, const char **why);
int spec_parse_hours(const char *s, double *hours, const char **why);
int spec_parse_number(const char *s, double *v);
int spec_parse_int(const char *s, long long *v);

/* Reports `region` when it is not one of `cloud`'s regions; 0 when it is. */
int spec_check_region(struct dctx *c, const struct spec_node *n, enum core_cloud cloud,
                      const char *region, const char *ctx);

/* The mapping type of one cloud's settings (for the JSON Schema). */
const struct sch_type *sch_cloud_type(enum core_cloud cloud);

/* Decodes the top-level 'variables' mapping and resolves each value (parser/vars.c). */
int spec_decode_variables(struct dctx *c, const struct spec_node *n);

/* `path` relative to `dir` (as is when absolute or when dir is "."), in the arena. */
const char *spec_path_join(struct core_arena *a, const char *dir, const char *path);

/* Semantic checks across sections (parser/check.c), after decoding. */
void spec_check(struct dctx *c);

#endif
