# Turns a file into a C source defining `gpuform_catalog_data` (bytes, NUL-terminated) and
# `gpuform_catalog_size`, so the bundled catalog travels inside the binary.
# Inputs: IN (file), OUT (C file).
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR size "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* Generated from ${IN} by cmake/embed_file.cmake; do not edit. */\n#include <stddef.h>\nconst unsigned char gpuform_catalog_data[] = {\n${body}0x00};\nconst size_t gpuform_catalog_size = ${size};\n")
