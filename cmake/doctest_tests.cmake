# jiffy_add_doctest_cases(target): one ctest test per doctest TEST_CASE, so a
# failure names the behaviour that broke and cases run in parallel. Cases are
# listed when ctest runs (through the cross-compiling emulator if any).
# A test that ran no case fails: doctest_discover_tests splits a case name at
# ';' (a CMake list), and each piece would otherwise "pass" by matching none.
list(APPEND CMAKE_MODULE_PATH /usr/lib/cmake/doctest)
include(doctest OPTIONAL RESULT_VARIABLE jiffy_have_doctest_cmake)

function(jiffy_add_doctest_cases target)
  if(jiffy_have_doctest_cmake)
    doctest_discover_tests(${target} ADD_LABELS 0 PROPERTIES TIMEOUT 600
      FAIL_REGULAR_EXPRESSION "test cases: +0 [|]")
  else()
    add_test(NAME ${target} COMMAND ${target})
  endif()
endfunction()
