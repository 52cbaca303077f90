/*
 * Who holds a state lock, for every backend: the record written when a lock is taken
 * (user, host, pid, operation, time, version, and for the shared backends an expiry), its
 * JSON form, and the one-line description shown to whoever finds the lock taken.
 */
#include "executor/backend.h"

#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int state_lock_info_self(struct state_lock_info *who, const char *operation, const char *version)
{
    memset(who, 0, sizeof *who);
    if (state_uuid(who->id) != 0)
        return -1;
    const char *user = getenv("USER");
    struct passwd *pw = user ? NULL : getpwuid(getuid());
    snprintf(who->user, sizeof who->user, "%s", user ? user : pw ? pw->pw_name : "unknown");
    if (gethostname(who->host, sizeof who->host - 1) != 0)
        snprintf(who->host, sizeof who->host, "unknown");
    who->pid = (long)getpid();
    snprintf(who->operation, sizeof who->operation, "%s", operation);
    who->created = (int64_t)time(NULL);
    snprintf(who->version, sizeof who->version, "%s", version ? version : "");
    return 0;
}

void state_lock_info_describe(const struct state_lock_info *who, char *out, size_t outlen)
{
    char when[32] = "an unknown time";
    time_t t = (time_t)who->created;
    struct tm tm;
    if (who->created > 0 && gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    snprintf(out, outlen, "%s@%s (pid %ld, %s, since %s, lock %s)", who->user, who->host, who->pid,
             who->operation, when, who->id);
}

char *state_lock_info_json(const struct state_lock_info *who, int64_t expires)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:s}", "id", who->id, "user", who->user, "host",
                  who->host, "pid", (json_int_t)who->pid, "operation", who->operation, "created",
                  (json_int_t)who->created, "version", who->version);
    if (o && expires > 0 && json_object_set_new(o, "expires", json_integer(expires)) != 0) {
        json_decref(o);
        return NULL;
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

bool state_lock_info_parse(const char *text, size_t len, struct state_lock_info *who,
                           int64_t *expires)
{
    memset(who, 0, sizeof *who);
    if (expires)
        *expires = 0;
    json_t *o = json_loadb(text, len, 0, NULL);
    const char *id = NULL, *user = "?", *host = "?", *op = "?", *ver = "?";
    json_int_t pid = 0, created = 0, exp = 0;
    bool ok = o && json_unpack(o, "{s:s, s?s, s?s, s?I, s?s, s?I, s?s, s?I}", "id", &id, "user",
                               &user, "host", &host, "pid", &pid, "operation", &op, "created",
                               &created, "version", &ver, "expires", &exp) == 0;
    if (ok) {
        snprintf(who->id, sizeof who->id, "%s", id);
        snprintf(who->user, sizeof who->user, "%s", user);
        snprintf(who->host, sizeof who->host, "%s", host);
        snprintf(who->operation, sizeof who->operation, "%s", op);
        snprintf(who->version, sizeof who->version, "%s", ver);
        who->pid = (long)pid;
        who->created = (int64_t)created;
        if (expires)
            *expires = (int64_t)exp;
    }
    json_decref(o);
    return ok;
}
