# thread_safety_check.cmake — one misuse case of thread_safety_use.cpp must
# fail to compile, for the reason it was written for.
#
#   cmake -DCXX=clang++ -DSOURCE=thread_safety_use.cpp -DINCLUDE_DIR=include
#         -DCASE=n "-DEXPECT=regex" -P thread_safety_check.cmake
#
# Passes only when the compiler (a) fails, (b) prints a diagnostic matching
# EXPECT (the analysis's message for that mistake, made an error by
# -Werror=thread-safety), and (c) prints no other error: a case that fails
# for an unrelated reason (a typo, a missing include) would otherwise pass.
foreach(var CXX SOURCE INCLUDE_DIR CASE EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "thread_safety_check: ${var} is not set")
  endif()
endforeach()

execute_process(
  COMMAND ${CXX} -std=c++20 -fsyntax-only -Wthread-safety -Werror=thread-safety -I${INCLUDE_DIR}
          -DMISUSE_CASE=${CASE} ${SOURCE}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)

if(status EQUAL 0)
  message(FATAL_ERROR "misuse case ${CASE} compiled, but it must not:\n${out}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "misuse case ${CASE} failed, but without the expected diagnostic /${EXPECT}/:\n${out}")
endif()
string(REGEX MATCHALL ": error: " errors "${out}")
list(LENGTH errors n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "misuse case ${CASE}: expected exactly one error, got ${n}:\n${out}")
endif()
message(STATUS "misuse case ${CASE} fails to compile as it should:\n${out}")
