/*
 * The YAML document as a tree of positioned nodes, before any meaning is given to it.
 * libyaml yields events; parser/yaml.c turns them into this tree so that validation can
 * point at any key or value, and can see a whole mapping at once (duplicate keys, merges).
 */
#ifndef GPUFORM_PARSER_NODE_H
#define GPUFORM_PARSER_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/diag.h"

enum spec_node_kind { SPEC_NODE_SCALAR, SPEC_NODE_MAP, SPEC_NODE_SEQ };

struct spec_pair;

/*
 * 40 bytes: a 10 MB stack has about a million nodes, so the layout matters (see
 * docs/benchmarks.md). Lengths and counts are 32-bit: a spec file is at most 32 MiB.
 */
struct spec_node {
    struct core_loc loc; /* where the node starts; span = the scalar's width on its line */
    union {
        struct {
            const char *s; /* NUL-terminated, in the arena */
            uint32_t len;
        } __attribute__((packed)) str;
        struct {
            struct spec_pair *items;
            uint32_t n;
        } __attribute__((packed)) map;
        struct {
            struct spec_node **items;
            uint32_t n;
        } __attribute__((packed)) seq;
    } u;
    uint32_t expanded : 29; /* nodes in this subtree, counting alias expansions (capped) */
    uint32_t kind : 2;      /* enum spec_node_kind */
    uint32_t quoted : 1;    /* scalar written quoted or as a block: always a string */
};

struct spec_pair {
    struct spec_node *key; /* always a scalar */
    struct spec_node *value;
    bool merged;    /* came from a `<<` merge key, not written here */
    bool duplicate; /* the key appeared earlier in the mapping (reported) */
};

struct spec_yaml_limits {
    size_t max_depth;       /* nesting deeper than this is refused */
    size_t max_alias_nodes; /* alias expansions may add at most this many nodes */
};

/* The defaults: depth 64, alias expansion 1,000,000 nodes. */
extern const struct spec_yaml_limits spec_yaml_default_limits;

/*
 * Parses the text of `src` into a node tree allocated in `arena`. *root is NULL for an empty
 * document. Problems are reported to `diags` with positions in `src`; returns 0, or -1 when
 * the document could not be loaded (then *root is NULL).
 */
int spec_yaml_parse(struct core_arena *arena, struct core_diags *diags,
                    const struct core_source *src, const struct spec_yaml_limits *limits,
                    struct spec_node **root);

/*
 * Reads the file at `path` into a new source registered with `diags`, refusing files over
 * `max_size` bytes, binary files (NUL bytes), UTF-16/32 and invalid UTF-8 with an error
 * that says where. Returns 0 and sets *src, or -1 (the error is in diags).
 */
int spec_read_source(struct core_diags *diags, const char *path, size_t max_size,
                     struct core_source **src);

/* Registers an in-memory text (copied) as a source, after the same checks. */
int spec_source_from_buffer(struct core_diags *diags, const char *name, const char *data,
                            size_t len, struct core_source **src);

/* True when the plain scalar means null: "", "~", "null", "Null", "NULL". */
bool spec_node_is_null(const struct spec_node *n);

/* The value for `key` in a mapping node, or NULL. */
struct spec_node *spec_node_get(const struct spec_node *map, const char *key);

/* "a mapping", "a list", "a string" ... for messages. */
const char *spec_node_kind_name(const struct spec_node *n);

#endif
