# Shared set-up for the example C plugins: usable from the repository's top-level
# CMakeLists.txt and standalone (`cloacinactl package build .` in the example dir).
if(NOT TARGET cloacina_sdk)
  get_filename_component(_root "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
  set(CLOACINA_ABI_DIR "${_root}/abi")
  add_subdirectory("${_root}/plugins/sdk/c" "${CMAKE_CURRENT_BINARY_DIR}/cloacina_sdk")
endif()
find_path(CJSON_INCLUDE_DIR cjson/cJSON.h REQUIRED)
find_library(CJSON_LIBRARY NAMES cjson REQUIRED)
if(SKBUILD)
  set(CLOACINA_PLUGIN_INSTALL_DIR cloacina_host/plugins)
else()
  set(CLOACINA_PLUGIN_INSTALL_DIR lib/cloacina/plugins)
endif()
