/*
 * Where the state, its lock and the journal live. A backend is a const vtable (the local
 * file here; etcd and S3 in modules/state/, chosen from the spec by state_backend_open)
 * behind one handle, so the executor never knows which one it talks to. Every slot returns
 * 0 or -1 with a message in `err` that names the place.
 */
#ifndef GPUFORM_EXECUTOR_BACKEND_H
#define GPUFORM_EXECUTOR_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "executor/state.h"

/* Who holds a lock: written when it is taken, shown to whoever finds it taken. */
struct state_lock_info {
    char id[37];        /* UUID of this lock; what `gpuform force-unlock ID` takes */
    char user[64];      /* login name */
    char host[256];     /* host name */
    long pid;           /* process id on `host` */
    char operation[32]; /* "apply", "destroy", "refresh", ... */
    int64_t created;    /* Unix seconds */
    char version[32];   /* the gpuform version holding it */
};

/* Fills `who` for this process (user, host, pid, a new id, now) doing `operation`, run by
 * gpuform `version`. */
int state_lock_info_self(struct state_lock_info *who, const char *operation, const char *version);

/* "alice@build-7 (pid 4242, apply, since 2026-11-21 18:02:11 UTC, lock 1b4e...)" */
void state_lock_info_describe(const struct state_lock_info *who, char *out, size_t outlen);

/* The holder as one line of JSON (what a lock file, key or object holds), with `expires`
 * (Unix seconds) added when non-zero; malloc'd, NULL when out of memory. */
char *state_lock_info_json(const struct state_lock_info *who, int64_t expires);

/* Reads a holder back from that JSON; false when `text` holds no valid record. `expires`
 * (may be NULL) gets its expiry, 0 when it has none. */
bool state_lock_info_parse(const char *text, size_t len, struct state_lock_info *who,
                           int64_t *expires);

struct state_backend;

struct state_backend_ops {
    const char *name; /* "local", "etcd", "s3" */

    /* Where the state is, for messages: a path, "etcd key gpuform/prod/state", "s3://b/k".
     * Owned by the handle. */
    const char *(*where)(struct state_backend *b);

    /*
     * Reads the stored state document. Returns 0 with *text (malloc'd, the caller frees)
     * and *len, or with *text NULL when no state exists yet; -1 when it can't be read.
     */
    int (*read)(struct state_backend *b, char **text, size_t *len, struct state_err *err);

    /*
     * Replaces the stored document with `text`, atomically: a reader sees the old one or
     * the new one, never a mix, whatever moment the process dies. The previous document is
     * kept as the backup. Refuses (-1) when the current document exists but was not read
     * successfully through this handle: gpuform never writes over a state it could not
     * read. The shared backends also refuse, compare-and-swap, when the stored document is
     * no longer the one this handle read or last wrote (no update is lost), and when this
     * handle held the lock and lost it (the fence: a run whose lease expired writes
     * nothing).
     */
    int (*write)(struct state_backend *b, const char *text, size_t len, struct state_err *err);

    /* Where the backup of the previous document is, for messages ("... state.json.backup"). */
    const char *(*backup_name)(struct state_backend *b);

    /*
     * History: the document `back` versions before the current one (0: the current one,
     * 1: the previous, ...). Returns 0 with *text (malloc'd; the caller frees) and `id`
     * naming the version ("backup", "revision 812", "s3 backup"), or with *text NULL when
     * the backend keeps no version that old; -1 on an error.
     */
    int (*read_version)(struct state_backend *b, size_t back, char **text, size_t *len, char *id,
                        size_t idlen, struct state_err *err);

    /*
     * Takes the exclusive lock for `me`, waiting up to `timeout_s` seconds (0: fail at
     * once). When another run holds it, returns -1 with `holder` filled and err naming it.
     * A lock left by a process that is gone (same host) is taken over, and `stale` (when
     * not NULL) gets the old holder's info with stale->id set; otherwise stale->id is "".
     * The shared backends' locks expire when their holder stops renewing them (etcd: a
     * lease kept alive by a thread; S3: an expiry in the lock object, renewed); an expired
     * one is taken over and reported the same way.
     */
    int (*lock)(struct state_backend *b, const struct state_lock_info *me, double timeout_s,
                struct state_lock_info *holder, struct state_lock_info *stale,
                struct state_err *err);

    /* Releases the lock this handle holds; a no-op when it holds none. */
    int (*unlock)(struct state_backend *b, struct state_err *err);

    /*
     * Removes a lock by id whoever holds it (`gpuform force-unlock ID`). Refuses when the
     * id doesn't match the lock, or when its holder is a live process on this host.
     */
    int (*force_unlock)(struct state_backend *b, const char *id, struct state_err *err);

    /* Appends one journal record (a line without its newline); durable when it returns. */
    int (*journal_append)(struct state_backend *b, const char *line, size_t len,
                          struct state_err *err);

    /* Reads the whole journal: *text NULL when there is none. The caller frees *text. */
    int (*journal_read)(struct state_backend *b, char **text, size_t *len, struct state_err *err);

    /* Empties the journal once the state records everything in it. */
    int (*journal_clear)(struct state_backend *b, struct state_err *err);

    /* Releases the lock if held, and frees the handle. */
    void (*close)(struct state_backend *b);
};

struct state_backend {
    const struct state_backend_ops *ops;
};

/*
 * Reads and parses the stored state (`what` names it in messages). 0 with *out (the caller
 * frees it), or with *out NULL when there is no state yet; -1 with err set: a read error,
 * or a damaged document, with the backup named.
 */
int state_load(struct state_backend *b, const char *what, struct state **out,
               struct state_err *err);

/* Bumps the serial and writes the whole state (atomically, as the backend does). 0 or -1. */
int state_save(struct state_backend *b, struct state *st, struct state_err *err);

/*
 * The backends' shared parts of the state: what it says about a document that is not the
 * one this handle read, for the compare-and-swap refusals ("serial 12 of lineage 0b7c...,
 * written since"). Writes at most outlen bytes.
 */
void state_describe_text(const char *text, size_t len, char *out, size_t outlen);

/*
 * The local backend: `state_file` (mode 0600; the spec's state.path, by default
 * ".gpuform/state.json" in the stack) with STATE.backup, STATE.lock and STATE.journal
 * beside it. Its directory is made (mode 0700) when missing, but not its parents. Returns
 * NULL with err set when that fails.
 */
struct state_backend *state_local_open(const char *state_file, struct state_err *err);

#endif
