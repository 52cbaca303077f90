/*
 * What the shared state backends (state_etcd.c, state_s3.c) share and nothing else needs:
 * their clock, sleep and secret-wiping helpers (state_util.c).
 */
#ifndef GPUFORM_MODULES_STATE_STATE_INT_H
#define GPUFORM_MODULES_STATE_STATE_INT_H

/* Seconds on the monotonic clock: lease and lock lifetimes are measured with it. */
double state_mono_now(void);

/* Sleeps `s` seconds (fractions too). */
void state_sleep_s(double s);

/* Overwrites the string (a password, a token) with zeros, then frees it; NULL is a no-op. */
void state_wipe_free(char *s);

#endif
