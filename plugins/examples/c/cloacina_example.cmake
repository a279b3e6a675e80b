# Shared set-up for the example C plugins inside the repository: usable from the repository's
# top-level CMakeLists.txt and standalone (`cloacinactl package build .` in the example dir).
# An example copied out of the repository without this file finds the SDK of the installed
# wheel instead (find_package(Cloacina)).
# Standalone, the SDK is found through CLOACINA_ROOT (a cloacina-host checkout holding abi/
# and plugins/sdk/c): -DCLOACINA_ROOT=..., else the CLOACINA_ROOT environment variable, else
# the checkout this file lives in (so an example copied elsewhere only needs one of those).
if(NOT TARGET cloacina_sdk)
  if(NOT CLOACINA_ROOT)
    if(DEFINED ENV{CLOACINA_ROOT})
      set(_default_root "$ENV{CLOACINA_ROOT}")
    else()
      get_filename_component(_default_root "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
    endif()
    set(CLOACINA_ROOT "${_default_root}" CACHE PATH "cloacina-host checkout (abi/, plugins/sdk/c)")
  endif()
  get_filename_component(_root "${CLOACINA_ROOT}" ABSOLUTE)
  if(NOT EXISTS "${_root}/abi/cloacina_plugin.h")
    message(FATAL_ERROR "CLOACINA_ROOT='${_root}' is not a cloacina-host checkout (no "
                        "abi/cloacina_plugin.h): pass -DCLOACINA_ROOT=... or set CLOACINA_ROOT")
  endif()
  set(CLOACINA_ABI_DIR "${_root}/abi")
  add_subdirectory("${_root}/plugins/sdk/c" "${CMAKE_CURRENT_BINARY_DIR}/cloacina_sdk")
endif()
if(SKBUILD)
  set(CLOACINA_PLUGIN_INSTALL_DIR cloacina_host/plugins)
else()
  set(CLOACINA_PLUGIN_INSTALL_DIR lib/cloacina/plugins)
endif()

# The wheel's bundled examples compile the vendored cJSON in (vendor/README.md; pyproject.toml
# turns this on): the wheel then depends on no system library but libc. Other builds link the
# system's libcjson.
option(CLOACINA_VENDORED_CJSON "Compile the vendored cJSON into the example plugins" OFF)
if(CLOACINA_VENDORED_CJSON AND NOT TARGET cloacina_example_cjson)
  add_library(cloacina_example_cjson STATIC ${CMAKE_CURRENT_LIST_DIR}/vendor/cjson/cJSON.c)
  set_target_properties(cloacina_example_cjson PROPERTIES POSITION_INDEPENDENT_CODE ON
                                                          C_VISIBILITY_PRESET hidden)
  target_include_directories(cloacina_example_cjson PUBLIC ${CMAKE_CURRENT_LIST_DIR}/vendor)
endif()
