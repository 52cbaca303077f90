/*
 * The state document, the local backend (atomic writes, backup, lock, journal) and the
 * journal replay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/backend.h"
#include "executor/journal.h"
#include "executor/state.h"

static struct state_node sample_node(char *address, char *id)
{
    struct state_node n = {
        .address = address,
        .provider = "aws",
        .cloud_id = id,
        .token = "gpuform-tok-1",
        .placement = {"aws", "us-east-1", "us-east-1a", "p5.48xlarge", "H100", 8, true},
        .hourly_usd = 98.32,
        .status = STATE_RUNNING,
        .created_at = 1795000000,
        .verify = STATE_VERIFY_PASSED,
        .verify_detail = "memtest ok, 3.1 TB/s",
    };
    return n;
}

/* Parses a serialized state back and checks that it serializes to the same bytes; returns
 * it (free it). */
static struct state *reparse(const char *text, size_t len)
{
    struct state *back = NULL;
    struct state_err err;
    assert_int_equal(state_parse(text, len, "mem", &back, &err), 0);
    size_t len2;
    char *again = state_serialize(back, &len2);
    assert_non_null(again);
    assert_int_equal(len2, len);
    assert_memory_equal(again, text, len);
    free(again);
    return back;
}

static void test_state_roundtrips_byte_for_byte(void **ctx)
{
    (void)ctx;
    struct state *st = state_new("prod");
    assert_non_null(st);
    st->serial = 7;
    struct state_node b = sample_node("train[1]", "i-0b"), a = sample_node("train[0]", "i-0a");
    struct state_label labels[] = {{"tier", "gold"}, {"team", "evals"}};
    b.labels = labels; /* borrowed: state_put copies them, sorted by key */
    b.nlabels = 2;
    assert_string_equal(state_put(st, &b)->labels[0].key, "team");
    assert_non_null(state_put(st, &a));
    struct state_block blk = {"aws",
                              "us-east-1",
                              "us-east-1a",
                              "p5.48xlarge",
                              false,
                              "capacity",
                              "InsufficientInstanceCapacity",
                              100,
                              200};
    assert_int_equal(state_block_put(st, &blk), 0);
    size_t len;
    char *text = state_serialize(st, &len);
    assert_non_null(text);
    assert_int_equal(text[len - 1], '\n');
    /* sorted by address whatever the insertion order */
    assert_true(strstr(text, "train[0]") < strstr(text, "train[1]"));
    assert_non_null(strstr(text, "98.32"));

    struct state *back = reparse(text, len);
    assert_string_equal(back->lineage, st->lineage);
    assert_int_equal(back->serial, 7);
    assert_int_equal(back->nnodes, 2);
    assert_string_equal(back->nodes[1].cloud_id, "i-0b");
    assert_true(back->nodes[0].placement.spot);
    assert_int_equal(back->nodes[0].verify, STATE_VERIFY_PASSED);
    assert_int_equal(back->nodes[0].nlabels, 0); /* a state without labels reads as none */
    assert_int_equal(back->nodes[1].nlabels, 2);
    assert_string_equal(back->nodes[1].labels[1].key, "tier");
    assert_string_equal(back->nodes[1].labels[1].value, "gold");
    free(text);
    state_free(back);
    state_free(st);
}

static void test_state_edits_keep_addresses_unique(void **ctx)
{
    (void)ctx;
    struct state *st = state_new("s");
    struct state_node n = sample_node("web[0]", "i-1");
    state_put(st, &n);
    n.cloud_id = "i-2";
    state_put(st, &n);
    assert_int_equal(st->nnodes, 1);
    assert_string_equal(state_find(st, "web[0]")->cloud_id, "i-2");
    assert_true(state_remove(st, "web[0]"));
    assert_false(state_remove(st, "web[0]"));
    assert_null(state_find(st, "web[0]"));
    state_free(st);
}

static void test_state_blocks_expire(void **ctx)
{
    (void)ctx;
    struct state *st = state_new("s");
    struct state_block blk = {"aws", "us-east-1", "", "g5.xlarge", true, "quota", "", 0, 500};
    state_block_put(st, &blk);
    assert_true(state_blocked(st, "aws", "us-east-1", "", "g5.xlarge", true, 499));
    assert_false(state_blocked(st, "aws", "us-east-1", "", "g5.xlarge", false, 499));
    assert_false(state_blocked(st, "aws", "us-east-1", "", "g5.xlarge", true, 500));
    blk.until = 900; /* the same place again: refreshed, not duplicated */
    state_block_put(st, &blk);
    assert_int_equal(st->nblocks, 1);
    assert_int_equal(state_block_prune(st, 899), 0);
    assert_int_equal(state_block_prune(st, 900), 1);
    assert_int_equal(st->nblocks, 0);
    state_free(st);
}

static void expect_parse_error(const char *text, const char *fragment)
{
    struct state *st = (struct state *)1;
    struct state_err err = {{0}};
    assert_int_equal(state_parse(text, strlen(text), "x/state.json", &st, &err), -1);
    assert_null(st);
    if (!strstr(err.msg, fragment))
        fail_msg("message '%s' lacks '%s'", err.msg, fragment);
}

#define HEAD "{\"format_version\":1,\"lineage\":\"0b7c4a52-7d3e-4f1a-9c2b-5e6f7a8b9c0d\","
/* NODE_OK with a "labels" member. */
#define NODE_LABELS(l)                                                                             \
    "{\"address\":\"a[0]\",\"provider\":\"aws\",\"cloud_id\":\"i-1\",\"token\":\"t\","             \
    "\"placement\":{\"cloud\":\"aws\",\"region\":\"us-east-1\",\"zone\":\"\","                     \
    "\"instance_type\":\"g5.xlarge\",\"gpu\":\"A10G\",\"gpus\":1,\"spot\":false},"                 \
    "\"hourly_usd\":1.006,\"status\":\"running\",\"created_at\":1,"                                \
    "\"verify\":{\"result\":\"none\",\"detail\":\"\"},\"tainted\":false,\"labels\":" l "}"
#define NODE_OK                                                                                    \
    "{\"address\":\"a[0]\",\"provider\":\"aws\",\"cloud_id\":\"i-1\",\"token\":\"t\","             \
    "\"placement\":{\"cloud\":\"aws\",\"region\":\"us-east-1\",\"zone\":\"\","                     \
    "\"instance_type\":\"g5.xlarge\",\"gpu\":\"A10G\",\"gpus\":1,\"spot\":false},"                 \
    "\"hourly_usd\":1.006,\"status\":\"running\",\"created_at\":1,"                                \
    "\"verify\":{\"result\":\"none\",\"detail\":\"\"},\"tainted\":false}"

static void test_state_refuses_damaged_documents(void **ctx)
{
    (void)ctx;
    expect_parse_error("", "is empty");
    expect_parse_error(HEAD "\"serial\":3,\"stack\":\"s\",\"nodes\":[" NODE_OK,
                       "not valid JSON (line 1");
    expect_parse_error("[1,2]", "not a JSON object");
    expect_parse_error("{\"format_version\":9,\"lineage\":\"x\"}", "newer gpuform");
    expect_parse_error("{\"format_version\":1,\"lineage\":\"nope\",\"serial\":1,\"stack\":\"s\","
                       "\"nodes\":[]}",
                       "lineage is not a UUID");
    expect_parse_error(HEAD "\"serial\":-1,\"stack\":\"s\",\"nodes\":[]}",
                       "serial is out of range");
    expect_parse_error(HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[" NODE_OK "," NODE_OK "]}",
                       "'a[0]' appears twice");
    expect_parse_error(HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[" NODE_LABELS("[]") "]}",
                       "nodes[0].labels is not an object of labels");
    expect_parse_error(HEAD
                       "\"serial\":1,\"stack\":\"s\",\"nodes\":[" NODE_LABELS("{\"a\":1}") "]}",
                       "nodes[0].labels holds a value that is not a string");
    expect_parse_error(HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[{\"address\":\"b\"}]}",
                       "nodes[0].provider is missing");
    expect_parse_error(
        HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[{\"address\":\"b\",\"provider\":\"aws\","
             "\"cloud_id\":\"\",\"token\":\"\",\"placement\":{\"cloud\":\"aws\",\"region\":7}}]}",
        "nodes[0].placement.region is not a string");
    expect_parse_error(HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[],\"serial\":2}",
                       "not valid JSON");
    /* and a good one parses */
    const char *good = HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[" NODE_OK "]}";
    struct state *st = NULL;
    struct state_err err;
    assert_int_equal(state_parse(good, strlen(good), "x", &st, &err), 0);
    assert_int_equal(st->nnodes, 1);
    state_free(st);
}

static void test_state_keeps_the_verify_secret_and_accepted_nodes(void **ctx)
{
    (void)ctx;
    struct state *st = state_new("s");
    assert_non_null(st);
    size_t len;
    char *plain = state_serialize(st, &len);
    assert_null(strstr(plain, "verify_secret")); /* states without gating keep their bytes */
    free(plain);
    memset(st->verify_secret, 'a', 64);
    st->verify_secret[64] = '\0';
    struct state_node n = {.address = "a[0]",
                           .provider = "aws",
                           .cloud_id = "i-1",
                           .token = "gf-1",
                           .placement = {"aws", "us-east-1", "", "g5.xlarge", "A10G", 1, false},
                           .verify = STATE_VERIFY_ACCEPTED,
                           .verify_detail = "accepted by policy 'p.lua': verify failed: gemm"};
    assert_non_null(state_put(st, &n));
    char *text = state_serialize(st, &len);
    struct state *back = NULL;
    struct state_err err;
    assert_int_equal(state_parse(text, len, "mem", &back, &err), 0);
    assert_string_equal(back->verify_secret, st->verify_secret);
    assert_int_equal(back->nodes[0].verify, STATE_VERIFY_ACCEPTED);
    assert_string_equal(state_verify_name(back->nodes[0].verify), "accepted");
    state_free(back);
    free(text);
    state_free(st);
    expect_parse_error(HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[],\"verify_secret\":\"abc\"}",
                       "verify_secret is not 64 hex digits");
}

/* A node whose verification a killed run left pending reads back pending, by name, and a
 * result this build does not know is refused. */
static void test_state_keeps_pending_verifications(void **ctx)
{
    (void)ctx;
    char bad[] = HEAD "\"serial\":1,\"stack\":\"s\",\"nodes\":[" NODE_OK "]}";
    char *at = strstr(bad, "\"result\":\"none\"");
    assert_non_null(at);
    memcpy(at + strlen("\"result\":\""), "pend", 4); /* "none" -> "pend": no result */
    expect_parse_error(bad, "nodes[0].verify.result has an unknown value");
    struct state *st = state_new("s");
    assert_non_null(st);
    struct state_node n = sample_node("chat[0]", "i-1");
    n.verify = STATE_VERIFY_PENDING;
    n.verify_detail = "";
    assert_non_null(state_put(st, &n));
    size_t len;
    char *doc = state_serialize(st, &len);
    assert_non_null(doc);
    assert_non_null(strstr(doc, "\"result\": \"pending\""));
    struct state *back = reparse(doc, len);
    assert_int_equal(back->nodes[0].verify, STATE_VERIFY_PENDING);
    assert_string_equal(state_verify_name(back->nodes[0].verify), "pending");
    state_free(back);
    free(doc);
    state_free(st);
}

/* ---- local backend ---- */

struct dirfix {
    char dir[64];
    char state[96]; /* dir/.gpuform/state.json: the directory is made by the backend */
};

static int dir_setup(void **ctx)
{
    struct dirfix *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gpuform-state-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->state, sizeof f->state, "%s/.gpuform/state.json", f->dir);
    *ctx = f;
    return 0;
}

static int dir_teardown(void **ctx)
{
    struct dirfix *f = *ctx;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_local_writes_atomically_with_backup(void **ctx)
{
    struct dirfix *f = *ctx;
    struct state_err err;
    struct state_backend *b = state_local_open(f->state, &err);
    assert_non_null(b);
    char *text = (char *)1;
    size_t len;
    assert_int_equal(b->ops->read(b, &text, &len, &err), 0);
    assert_null(text); /* no state yet */
    assert_int_equal(b->ops->write(b, "one\n", 4, &err), 0);
    assert_int_equal(b->ops->write(b, "two\n", 4, &err), 0);
    char path[128];
    snprintf(path, sizeof path, "%s", f->state);
    char *cur = slurp(path);
    assert_string_equal(cur, "two\n");
    free(cur);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *bak = slurp(b->ops->backup_name(b));
    assert_string_equal(bak, "one\n");
    free(bak);
    b->ops->close(b);

    /* a handle that has not read the state may not write over it */
    b = state_local_open(f->state, &err);
    assert_int_equal(b->ops->write(b, "three\n", 6, &err), -1);
    assert_non_null(strstr(err.msg, "never writes over a state it could not read"));
    cur = slurp(path);
    assert_string_equal(cur, "two\n");
    free(cur);
    b->ops->close(b);
}

static void test_local_lock_names_the_holder(void **ctx)
{
    struct dirfix *f = *ctx;
    struct state_err err;
    struct state_backend *a = state_local_open(f->state, &err);
    struct state_backend *b = state_local_open(f->state, &err);
    struct state_lock_info me, other, holder, stale;
    state_lock_info_self(&me, "apply", "0.1.0");
    state_lock_info_self(&other, "plan", "0.1.0");
    assert_int_equal(a->ops->lock(a, &me, 0, &holder, &stale, &err), 0);
    assert_string_equal(stale.id, "");
    assert_int_equal(b->ops->lock(b, &other, 0.2, &holder, &stale, &err), -1);
    assert_string_equal(holder.id, me.id);
    assert_non_null(strstr(err.msg, "locked by"));
    assert_non_null(strstr(err.msg, "apply"));
    assert_non_null(strstr(err.msg, me.id));
    /* force-unlock refuses a live holder on this host, and a wrong id */
    assert_int_equal(b->ops->force_unlock(b, "nope", &err), -1);
    assert_non_null(strstr(err.msg, "does not match"));
    assert_int_equal(b->ops->force_unlock(b, me.id, &err), -1);
    assert_non_null(strstr(err.msg, "still running"));
    assert_int_equal(a->ops->unlock(a, &err), 0);
    assert_int_equal(b->ops->lock(b, &other, 0, &holder, &stale, &err), 0);
    b->ops->close(b);
    a->ops->close(a);
}

static void write_lock_record(const char *dir, const char *host, const char *id)
{
    char path[128], rec[512];
    snprintf(path, sizeof path, "%s/.gpuform", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.gpuform/state.json.lock", dir);
    snprintf(rec, sizeof rec,
             "{\"id\":\"%s\",\"user\":\"bob\",\"host\":\"%s\",\"pid\":999999,"
             "\"operation\":\"apply\",\"created\":1795000000,\"version\":\"0.1.0\"}",
             id, host);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(rec, fp);
    fclose(fp);
}

static void test_local_lock_of_a_dead_run_is_taken_over(void **ctx)
{
    struct dirfix *f = *ctx;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    /* the record a killed run leaves: its flock died with it */
    write_lock_record(f->dir, host, "11111111-1111-4111-8111-111111111111");
    struct state_err err;
    struct state_backend *b = state_local_open(f->state, &err);
    struct state_lock_info me, holder, stale;
    state_lock_info_self(&me, "apply", "0.1.0");
    assert_int_equal(b->ops->lock(b, &me, 0, &holder, &stale, &err), 0);
    assert_string_equal(stale.id, "11111111-1111-4111-8111-111111111111");
    assert_int_equal(stale.pid, 999999);
    b->ops->close(b);
}

static void test_local_lock_from_another_host_needs_force_unlock(void **ctx)
{
    struct dirfix *f = *ctx;
    const char *id = "22222222-2222-4222-8222-222222222222";
    write_lock_record(f->dir, "elsewhere.example", id);
    struct state_err err;
    struct state_backend *b = state_local_open(f->state, &err);
    struct state_lock_info me, holder, stale;
    state_lock_info_self(&me, "apply", "0.1.0");
    assert_int_equal(b->ops->lock(b, &me, 0, &holder, &stale, &err), -1);
    assert_non_null(strstr(err.msg, "another host"));
    assert_non_null(strstr(err.msg, id));
    assert_int_equal(b->ops->force_unlock(b, id, &err), 0);
    assert_int_equal(b->ops->lock(b, &me, 0, &holder, &stale, &err), 0);
    b->ops->close(b);
}

/* A writer killed at 60 seeded moments leaves the old state or the new one, never a mix,
 * and a lock that the next run takes over. */
static void test_local_survives_kill_during_writes(void **ctx)
{
    struct dirfix *f = *ctx;
    struct state_err err;
    char path[128];
    snprintf(path, sizeof path, "%s", f->state);
    unsigned seed = 12345;
    int seen = 0;
    for (int round = 0; round < 60; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct state_backend *b = state_local_open(f->state, &err);
            struct state_lock_info me, holder, stale;
            char *text;
            size_t len;
            if (!b || state_lock_info_self(&me, "apply", "t") != 0 ||
                b->ops->lock(b, &me, 5, &holder, &stale, &err) != 0 ||
                b->ops->read(b, &text, &len, &err) != 0)
                _exit(3);
            free(text);
            char doc[4096];
            for (unsigned i = 0;; i++) {
                /* every document is self-checking: a line of one repeated digit */
                memset(doc, (int)('0' + i % 10), sizeof doc - 1);
                doc[sizeof doc - 1] = '\n';
                if (b->ops->write(b, doc, sizeof doc, &err) != 0)
                    _exit(4);
            }
        }
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)(1000 + (seed >> 8) % 20000) * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status));
        char *cur = slurp(path);
        if (cur) {
            seen++;
            size_t n = strlen(cur);
            assert_int_equal(n, 4096);
            for (size_t i = 1; i + 1 < n; i++)
                assert_int_equal(cur[i], cur[0]);
            free(cur);
        }
    }
    assert_true(seen >= 50); /* the writers did get going */
    /* the last run's lock record is still there; this run takes it over */
    struct state_backend *b = state_local_open(f->state, &err);
    struct state_lock_info me, holder, stale;
    state_lock_info_self(&me, "apply", "t");
    assert_int_equal(b->ops->lock(b, &me, 0, &holder, &stale, &err), 0);
    assert_string_not_equal(stale.id, "");
    b->ops->close(b);
}

/* ---- journal ---- */

static void test_journal_replays_outcomes_in_order(void **ctx)
{
    struct dirfix *f = *ctx;
    struct state_err err;
    struct state_backend *b = state_local_open(f->state, &err);
    struct journal_rec r = {
        .op = JOURNAL_CREATE,
        .phase = JOURNAL_INTENT,
        .address = "train[0]",
        .provider = "aws",
        .token = "tok-0",
        .placement = {"aws", "us-east-1", "us-east-1a", "p5.48xlarge", "H100", 8, false},
        .hourly_usd = 98.32,
        .at = 10,
    };
    const struct {
        const char *address, *token, *id;
        enum journal_phase phase;
    } steps[] = {
        {"train[0]", "tok-0", "", JOURNAL_INTENT},   {"train[1]", "tok-1", "", JOURNAL_INTENT},
        {"train[0]", "tok-0", "i-0a", JOURNAL_DONE}, {"train[2]", "tok-2", "", JOURNAL_INTENT},
        {"train[2]", "tok-2", "", JOURNAL_FAILED},
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        r.address = steps[i].address;
        r.token = steps[i].token;
        r.cloud_id = steps[i].id;
        r.phase = steps[i].phase;
        r.error = steps[i].phase == JOURNAL_FAILED ? "InsufficientInstanceCapacity" : "";
        r.verify = !strcmp(steps[i].address, "train[1]"); /* its boot script carries the agent */
        char *line = journal_encode(&r);
        assert_non_null(line);
        assert_null(strchr(line, '\n'));
        assert_true(r.verify == (strstr(line, "\"verify\":true") != NULL));
        assert_int_equal(b->ops->journal_append(b, line, strlen(line), &err), 0);
        free(line);
    }
    char *text;
    size_t len;
    assert_int_equal(b->ops->journal_read(b, &text, &len, &err), 0);
    struct journal_replay rp;
    assert_int_equal(journal_replay(text, len, "j", &rp, &err), 0);
    assert_false(rp.torn_tail);
    assert_int_equal(rp.nentries, 3);
    assert_string_equal(rp.entries[0].address, "train[0]");
    assert_int_equal(rp.entries[0].phase, JOURNAL_DONE);
    assert_string_equal(rp.entries[0].cloud_id, "i-0a");
    assert_string_equal(rp.entries[0].placement.instance_type, "p5.48xlarge");
    assert_int_equal(rp.entries[1].phase, JOURNAL_INTENT); /* unfinished: ask the cloud */
    assert_false(rp.entries[0].verify);
    assert_true(rp.entries[1].verify); /* settled, it is recorded verify "pending" */
    assert_int_equal(rp.entries[2].phase, JOURNAL_FAILED);
    assert_string_equal(rp.entries[2].error, "InsufficientInstanceCapacity");
    journal_replay_release(&rp);

    /* a crash mid-append leaves a torn last line: ignored and flagged */
    char *torn = malloc(len + 20);
    memcpy(torn, text, len);
    memcpy(torn + len, "{\"op\":\"crea", 11);
    assert_int_equal(journal_replay(torn, len + 11, "j", &rp, &err), 0);
    assert_true(rp.torn_tail);
    assert_int_equal(rp.nentries, 3);
    journal_replay_release(&rp);
    free(torn);
    free(text);

    assert_int_equal(b->ops->journal_clear(b, &err), 0);
    assert_int_equal(b->ops->journal_read(b, &text, &len, &err), 0);
    assert_null(text);
    b->ops->close(b);
}

static void test_journal_refuses_damage_before_the_end(void **ctx)
{
    (void)ctx;
    struct journal_replay rp;
    struct state_err err;
    const char *mid = "garbage\n{\"op\":\"create\",\"phase\":\"intent\",\"address\":\"a\"}\n";
    assert_int_equal(journal_replay(mid, strlen(mid), "j", &rp, &err), -1);
    assert_non_null(strstr(err.msg, "line 1 is not a journal record"));
    const char *orphan =
        "{\"op\":\"create\",\"phase\":\"done\",\"address\":\"a\",\"token\":\"t\"}\n";
    assert_int_equal(journal_replay(orphan, strlen(orphan), "j", &rp, &err), -1);
    assert_non_null(strstr(err.msg, "outcome with no intent"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_roundtrips_byte_for_byte),
        cmocka_unit_test(test_state_edits_keep_addresses_unique),
        cmocka_unit_test(test_state_blocks_expire),
        cmocka_unit_test(test_state_refuses_damaged_documents),
        cmocka_unit_test(test_state_keeps_the_verify_secret_and_accepted_nodes),
        cmocka_unit_test(test_state_keeps_pending_verifications),
        cmocka_unit_test_setup_teardown(test_local_writes_atomically_with_backup, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_local_lock_names_the_holder, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_local_lock_of_a_dead_run_is_taken_over, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_local_lock_from_another_host_needs_force_unlock,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_local_survives_kill_during_writes, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_journal_replays_outcomes_in_order, dir_setup,
                                        dir_teardown),
        cmocka_unit_test(test_journal_refuses_damage_before_the_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
