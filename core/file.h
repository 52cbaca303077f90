/*
 * Writing a whole file so that a crash or a concurrent reader sees the old contents or the
 * new, never a mix: the one implementation behind saved plans, catalogs, cloudsim's world,
 * key files and the backend marker (the local state backend adds a backup and a directory
 * fsync of its own).
 */
#ifndef GPUFORM_CORE_FILE_H
#define GPUFORM_CORE_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Writes `len` bytes to `path` through a temporary file beside it (unique: mkstemp) with
 * mode `mode`, flushed to disk (fsync), then renamed over `path`. Returns 0, or the errno
 * value of the step that failed (the temporary file is removed; `path` is unchanged).
 */
int core_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
