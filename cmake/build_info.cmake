# Writes generated/cli/build_info.h at every build, so `gpuform version` names the commit
# the binary was built from (not the one CMake was configured at). configure_file only
# touches the header when its content changes, so unchanged builds relink nothing.
# Inputs: SRC (source dir), OUT (header), IN (template), PROJECT_VERSION, GPUFORM_BUILD_LABEL,
# GPUFORM_HAVE_NVCC, GPUFORM_NVCC_VERSION.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE GPUFORM_GIT_REV OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR GPUFORM_GIT_REV STREQUAL "")
  set(GPUFORM_GIT_REV "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT dirty STREQUAL "")
    string(APPEND GPUFORM_GIT_REV "-dirty")
  endif()
endif()
configure_file(${IN} ${OUT} @ONLY)
