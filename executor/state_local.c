/*
 * The local state backend: the state file (".gpuform/state.json" in the stack by default)
 * with its backup, lock and journal beside it. Writes go to a temporary file that is fsynced and
 * renamed over the old one (then the directory is fsynced), so a crash leaves the old state
 * or the new one. The lock is an flock(2) on state.json.lock, which the kernel drops when its
 * holder dies, with the holder's details written inside for whoever finds it taken.
 */
#include "executor/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A state bigger than this is refused rather than read into memory. */
#define STATE_MAX_BYTES (256u << 20)

struct local {
    struct state_backend base;
    char *dir, *state, *backup, *lockpath, *journal;
    bool read_done; /* read() succeeded: the state was absent or parsed as bytes */
    int lock_fd;    /* -1 when no lock is held */
    int journal_fd; /* -1 until the first append */
};

static char *suffixed(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", path, suffix);
    return p;
}

/* ---- whole-file helpers ---- */

/* Reads all of fd (at most STATE_MAX_BYTES). */
static int read_fd(int fd, const char *path, char **text, size_t *len, struct state_err *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return state_fail(err, "cannot read '%s': %s", path, strerror(errno));
    if ((unsigned long long)sb.st_size > STATE_MAX_BYTES)
        return state_fail(err, "'%s' is %lld bytes, over the %u MiB limit; is it a state file?",
                          path, (long long)sb.st_size, STATE_MAX_BYTES >> 20);
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return state_fail(err, "out of memory reading '%s'", path);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > STATE_MAX_BYTES) {
                free(buf);
                return state_fail(err, "'%s' grew past the %u MiB limit while being read", path,
                                  STATE_MAX_BYTES >> 20);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return state_fail(err, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = pread(fd, buf + n, cap - 1 - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return state_fail(err, "cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* Reads a whole file; *text NULL when it does not exist. */
static int read_file(const char *path, char **text, size_t *len, struct state_err *err)
{
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return state_fail(err, "cannot open '%s': %s", path, strerror(errno));
    }
    int rc = read_fd(fd, path, text, len, err);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* ---- read / write ---- */

static int local_read(struct state_backend *b, char **text, size_t *len, struct state_err *err)
{
    struct local *l = (struct local *)b;
    if (read_file(l->state, text, len, err) != 0)
        return -1;
    l->read_done = true;
    return 0;
}

static int local_write(struct state_backend *b, const char *text, size_t len, struct state_err *err)
{
    struct local *l = (struct local *)b;
    struct stat sb;
    bool exists = stat(l->state, &sb) == 0;
    if (exists && !l->read_done)
        return state_fail(err,
                          "refusing to write '%s': the state there was not read first (gpuform "
                          "never writes over a state it could not read)",
                          l->state);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", l->state, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return state_fail(err, "cannot write the state: cannot create '%s': %s", tmp,
                          strerror(errno));
    if (write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return state_fail(err, "cannot write the state to '%s': %s; the old state is untouched",
                          tmp, strerror(e));
    }
    close(fd);
    if (exists) {
        /* The backup is a hard link to the old document, renamed into place atomically. */
        char btmp[PATH_MAX];
        snprintf(btmp, sizeof btmp, "%s.tmp.%ld", l->backup, (long)getpid());
        unlink(btmp);
        if (link(l->state, btmp) != 0 || rename(btmp, l->backup) != 0) {
            int e = errno;
            unlink(btmp);
            unlink(tmp);
            return state_fail(err, "cannot keep the backup '%s': %s; the old state is untouched",
                              l->backup, strerror(e));
        }
    }
    if (rename(tmp, l->state) != 0) {
        int e = errno;
        unlink(tmp);
        return state_fail(err, "cannot replace '%s': %s; the old state is untouched", l->state,
                          strerror(e));
    }
    if (fsync_dir(l->dir) != 0)
        return state_fail(err, "wrote '%s' but could not fsync '%s': %s", l->state, l->dir,
                          strerror(errno));
    l->read_done = true;
    return 0;
}

static const char *local_backup_name(struct state_backend *b)
{
    return ((struct local *)b)->backup;
}

static const char *local_where(struct state_backend *b)
{
    return ((struct local *)b)->state;
}

/* The local backend keeps two versions: the state and its backup. */
static int local_read_version(struct state_backend *b, size_t back, char **text, size_t *len,
                              char *id, size_t idlen, struct state_err *err)
{
    struct local *l = (struct local *)b;
    *text = NULL;
    *len = 0;
    if (back > 1)
        return 0;
    snprintf(id, idlen, "%s", back == 0 ? "current" : "backup");
    return read_file(back == 0 ? l->state : l->backup, text, len, err);
}

/* ---- lock ---- */

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void read_holder(int fd, const char *path, struct state_lock_info *holder)
{
    char *text = NULL;
    size_t len = 0;
    struct state_err ignored;
    memset(holder, 0, sizeof *holder);
    if (read_fd(fd, path, &text, &len, &ignored) == 0 && len > 0)
        state_lock_info_parse(text, len, holder, NULL);
    free(text);
}

static int local_lock(struct state_backend *b, const struct state_lock_info *me, double timeout_s,
                      struct state_lock_info *holder, struct state_lock_info *stale,
                      struct state_err *err)
{
    struct local *l = (struct local *)b;
    if (stale)
        stale->id[0] = '\0';
    if (l->lock_fd >= 0)
        return 0;
    int fd = open(l->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return state_fail(err, "cannot open the lock '%s': %s", l->lockpath, strerror(errno));
    double deadline = now_mono() + (timeout_s > 0 ? timeout_s : 0);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            return state_fail(err, "cannot lock '%s': %s", l->lockpath, strerror(e));
        }
        if (now_mono() >= deadline) {
            char who[512];
            read_holder(fd, l->lockpath, holder);
            close(fd);
            if (!holder->id[0])
                return state_fail(err, "the state is locked by another gpuform run (it has not "
                                       "written its details yet); try again");
            state_lock_info_describe(holder, who, sizeof who);
            return state_fail(err,
                              "the state is locked by %s; wait for it (--lock-timeout), or if "
                              "that run is gone for good: gpuform force-unlock %s",
                              who, holder->id);
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* We hold the flock. A record still inside was left by a run that ended without
     * unlocking: on this host the kernel released its flock, so it is gone. */
    struct state_lock_info old;
    read_holder(fd, l->lockpath, &old);
    if (old.id[0]) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        if (strcmp(old.host, host) != 0) {
            char who[512];
            flock(fd, LOCK_UN);
            close(fd);
            *holder = old;
            state_lock_info_describe(&old, who, sizeof who);
            return state_fail(err,
                              "the state is locked by %s on another host, which this host can't "
                              "check; if that run is gone: gpuform force-unlock %s",
                              who, old.id);
        }
        if (stale)
            *stale = old;
    }
    char *rec = state_lock_info_json(me, 0);
    if (!rec || ftruncate(fd, 0) != 0 || write_all(fd, rec, strlen(rec)) != 0 || fsync(fd) != 0) {
        int e = errno;
        free(rec);
        flock(fd, LOCK_UN);
        close(fd);
        return state_fail(err, "cannot write the lock '%s': %s", l->lockpath, strerror(e));
    }
    free(rec);
    l->lock_fd = fd;
    return 0;
}

static int local_unlock(struct state_backend *b, struct state_err *err)
{
    struct local *l = (struct local *)b;
    if (l->lock_fd < 0)
        return 0;
    int rc = 0;
    if (ftruncate(l->lock_fd, 0) != 0)
        rc = state_fail(err, "cannot clear the lock '%s': %s", l->lockpath, strerror(errno));
    flock(l->lock_fd, LOCK_UN);
    close(l->lock_fd);
    l->lock_fd = -1;
    return rc;
}

static int local_force_unlock(struct state_backend *b, const char *id, struct state_err *err)
{
    struct local *l = (struct local *)b;
    int fd = open(l->lockpath, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return state_fail(err, "no lock is held on this state ('%s' does not exist)", l->lockpath);
    if (fd < 0)
        return state_fail(err, "cannot open the lock '%s': %s", l->lockpath, strerror(errno));
    struct state_lock_info holder;
    read_holder(fd, l->lockpath, &holder);
    int rc = 0;
    char who[512];
    state_lock_info_describe(&holder, who, sizeof who);
    if (!holder.id[0]) {
        rc = state_fail(err, "no lock is held on this state");
    } else if (strcmp(holder.id, id) != 0) {
        rc = state_fail(err, "the lock id '%s' does not match the lock held by %s", id, who);
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = state_fail(err,
                        "the lock is held by %s, a process that is still running on this "
                        "host; stop it rather than unlocking under it",
                        who);
    } else {
        if (ftruncate(fd, 0) != 0 || fsync(fd) != 0)
            rc = state_fail(err, "cannot clear the lock '%s': %s", l->lockpath, strerror(errno));
        flock(fd, LOCK_UN);
    }
    close(fd);
    return rc;
}

/* ---- journal ---- */

static int local_journal_append(struct state_backend *b, const char *line, size_t len,
                                struct state_err *err)
{
    struct local *l = (struct local *)b;
    if (memchr(line, '\n', len))
        return state_fail(err, "a journal record may not contain a newline");
    if (l->journal_fd < 0) {
        l->journal_fd = open(l->journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (l->journal_fd < 0)
            return state_fail(err, "cannot open the journal '%s': %s", l->journal, strerror(errno));
        fsync_dir(l->dir);
    }
    /* One write per record, newline included, so a crash leaves at most one torn line,
     * always the last. */
    char *rec = malloc(len + 1);
    if (!rec)
        return state_fail(err, "out of memory writing the journal");
    memcpy(rec, line, len);
    rec[len] = '\n';
    int rc =
        write_all(l->journal_fd, rec, len + 1) == 0 && fdatasync(l->journal_fd) == 0
            ? 0
            : state_fail(err, "cannot append to the journal '%s': %s", l->journal, strerror(errno));
    free(rec);
    return rc;
}

static int local_journal_read(struct state_backend *b, char **text, size_t *len,
                              struct state_err *err)
{
    return read_file(((struct local *)b)->journal, text, len, err);
}

static int local_journal_clear(struct state_backend *b, struct state_err *err)
{
    struct local *l = (struct local *)b;
    if (l->journal_fd >= 0) {
        close(l->journal_fd);
        l->journal_fd = -1;
    }
    if (unlink(l->journal) != 0 && errno != ENOENT)
        return state_fail(err, "cannot remove the journal '%s': %s", l->journal, strerror(errno));
    fsync_dir(l->dir);
    return 0;
}

static void local_close(struct state_backend *b)
{
    struct local *l = (struct local *)b;
    if (!l)
        return;
    local_unlock(b, NULL);
    if (l->journal_fd >= 0)
        close(l->journal_fd);
    free(l->dir);
    free(l->state);
    free(l->backup);
    free(l->lockpath);
    free(l->journal);
    free(l);
}

static const struct state_backend_ops local_ops = {
    .name = "local",
    .where = local_where,
    .read = local_read,
    .write = local_write,
    .backup_name = local_backup_name,
    .read_version = local_read_version,
    .lock = local_lock,
    .unlock = local_unlock,
    .force_unlock = local_force_unlock,
    .journal_append = local_journal_append,
    .journal_read = local_journal_read,
    .journal_clear = local_journal_clear,
    .close = local_close,
};

struct state_backend *state_local_open(const char *state_file, struct state_err *err)
{
    const char *slash = strrchr(state_file, '/');
    char *dir = slash ? strndup(state_file, slash == state_file ? 1 : (size_t)(slash - state_file))
                      : strdup(".");
    if (!dir) {
        state_fail(err, "out of memory");
        return NULL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        state_fail(err, "cannot make the state directory '%s': %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        state_fail(err, "'%s' is not a directory; gpuform keeps its state there", dir);
        free(dir);
        return NULL;
    }
    struct local *l = calloc(1, sizeof *l);
    if (!l) {
        free(dir);
        state_fail(err, "out of memory");
        return NULL;
    }
    l->base.ops = &local_ops;
    l->lock_fd = -1;
    l->journal_fd = -1;
    l->dir = dir;
    l->state = strdup(state_file);
    l->backup = suffixed(state_file, ".backup");
    l->lockpath = suffixed(state_file, ".lock");
    l->journal = suffixed(state_file, ".journal");
    if (!l->state || !l->backup || !l->lockpath || !l->journal) {
        local_close(&l->base);
        state_fail(err, "out of memory");
        return NULL;
    }
    return &l->base;
}
