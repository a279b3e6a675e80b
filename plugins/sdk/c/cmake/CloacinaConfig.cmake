# CMake package config of the cloacina C SDK (the ABI header and cloacina_sdk.h), as the
# cloacina-host wheel installs it: cloacina_host/cmake/ next to cloacina_host/include/.
#
#   find_package(Cloacina REQUIRED)      # -DCloacina_DIR=$(cloacinactl sdk cmake)
#                                        # or CMAKE_PREFIX_PATH=$(cloacinactl sdk path)
#   add_library(my_plugin SHARED plugin.c)
#   target_link_libraries(my_plugin PRIVATE Cloacina::sdk)
#
# or, with hidden visibility and warnings set the way the examples build:
#   cloacina_add_plugin(my_plugin SOURCES plugin.c [LIBS ...])
#
# Defines the INTERFACE target Cloacina::sdk (include directories, C99), Cloacina_INCLUDE_DIRS,
# Cloacina_ABI_VERSION and the function cloacina_add_plugin.

get_filename_component(_cloacina_include "${CMAKE_CURRENT_LIST_DIR}/../include" ABSOLUTE)
if(NOT EXISTS "${_cloacina_include}/cloacina_plugin.h"
   OR NOT EXISTS "${_cloacina_include}/cloacina_sdk.h")
  set(Cloacina_FOUND FALSE)
  set(Cloacina_NOT_FOUND_MESSAGE
      "the cloacina C SDK headers are missing from '${_cloacina_include}' "
      "(cloacina_plugin.h, cloacina_sdk.h): reinstall cloacina-host")
  return()
endif()

set(Cloacina_INCLUDE_DIRS "${_cloacina_include}")
file(STRINGS "${_cloacina_include}/cloacina_plugin.h" _cloacina_abi
     REGEX "^#define CLOACINA_ABI_VERSION ")
string(REGEX REPLACE "^#define CLOACINA_ABI_VERSION +([0-9]+).*" "\\1" Cloacina_ABI_VERSION
       "${_cloacina_abi}")
unset(_cloacina_abi)
unset(_cloacina_include)

if(NOT TARGET Cloacina::sdk)
  add_library(Cloacina::sdk INTERFACE IMPORTED)
  set_target_properties(Cloacina::sdk PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Cloacina_INCLUDE_DIRS}"
    INTERFACE_COMPILE_FEATURES c_std_99)
endif()

# cloacina_add_plugin(<target> SOURCES ... [LIBS ...]): a shared library linked to the SDK,
# built position-independent with hidden visibility (only the entry symbol is exported).
if(NOT COMMAND cloacina_add_plugin)
  function(cloacina_add_plugin target)
    cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
    add_library(${target} SHARED ${P_SOURCES})
    target_link_libraries(${target} PRIVATE Cloacina::sdk ${P_LIBS})
    set_target_properties(${target} PROPERTIES C_VISIBILITY_PRESET hidden
                                               POSITION_INDEPENDENT_CODE ON)
    target_compile_options(${target} PRIVATE -Wall -Wextra)
  endfunction()
endif()
