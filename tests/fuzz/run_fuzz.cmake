# Runs fuzz_spec for a bounded time (ctest fuzz/spec; see CMakeLists.txt next to this file).
# -D FUZZER, WORK_DIR, DICT, SECONDS, CORPUS_DIRS (a list; missing directories are skipped).
# Passes when libFuzzer exits 0: no crash, no leak, no timeout, no out-of-memory.
foreach(v FUZZER WORK_DIR DICT SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzz.cmake: -D${v}=... is required")
  endif()
endforeach()

# Leaks fail the run (LeakSanitizer, on by default with ASan); UBSan reports stop it with a
# stack. Options the caller already set are kept.
if(NOT DEFINED ENV{ASAN_OPTIONS})
  set(ENV{ASAN_OPTIONS} "detect_leaks=1")
endif()
if(NOT DEFINED ENV{UBSAN_OPTIONS})
  set(ENV{UBSAN_OPTIONS} "print_stacktrace=1:halt_on_error=1")
endif()

# A fresh scratch corpus (libFuzzer's output directory) and artifact prefix for each run.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/corpus ${WORK_DIR}/artifacts)

set(dirs ${WORK_DIR}/corpus)
foreach(d ${CORPUS_DIRS})
  if(IS_DIRECTORY ${d})
    list(APPEND dirs ${d})
  endif()
endforeach()

set(cmd ${FUZZER} -max_total_time=${SECONDS} -dict=${DICT} -timeout=10 -rss_limit_mb=2048
        -max_len=65536 -print_final_stats=1 -artifact_prefix=${WORK_DIR}/artifacts/ ${dirs})
string(REPLACE ";" " " shown "${cmd}")
message(STATUS "running: ${shown}")
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB found ${WORK_DIR}/artifacts/*)
  message(FATAL_ERROR "fuzz_spec failed (exit ${rc}); reproducer(s): ${found}\n"
          "Reproduce with: ${FUZZER} FILE; keep it under tests/fuzz/crashes/ once reported.")
endif()
