# The layer rule, checked on every build (src/CMakeLists.txt runs this script before the
# library compiles): a file may include headers of its own layer and of the layers below it,
# never above. Includes are read in both spellings ("pool/lease.hpp", <pool/lease.hpp>); those
# of other libraries (boost/, openssl/, ...) pass. Layers, lowest first (docs/DESIGN.md):
#   0 core     src/core src/secure_buffer src/metrics: errors, clock, secrets, histograms, text
#   1 channel  src/tls src/channel: one verified TLS connection
#   2 pool     src/pool src/config: the pool, its configuration and its file
#   3 http     src/http: HTTP/1.1, HTTP/2 and WebSocket over leases
#   4 monitor  src/monitor: metrics, status, the monitoring server
#   5 apps     src/c_api src/daemon src/demo apps/: programs and bindings built on the above
# The public headers (include/securechannel) and the folders of src/ each belong to one layer,
# listed below; a new one must be listed. src/demo is built on the public headers alone, and
# nothing outside src/testing includes src/testing (the test fixtures, never shipped).
#
#   cmake -DSOURCE_DIR=<project> -DSTAMP=<file> -P cmake/check_layers.cmake
cmake_minimum_required(VERSION 3.20)

set(layer_names core channel pool http monitor apps)
set(folder_core core secure_buffer metrics)
set(folder_channel tls channel)
set(folder_pool pool config)
set(folder_http http)
set(folder_monitor monitor)
set(folder_apps c_api daemon demo)
set(public_core clock config_error error secure_buffer latency_histogram prometheus_text metrics_registry
  stream_helpers)
set(public_channel tls_options client_tls_context tls_failure connection_stats secure_channel
  detail/ticket_destination detail/tls_io_op)
set(public_pool pool_config pool_log pool_builder pool_config_file circuit_breaker reconnect_backoff lease affinity
  detail/pooled_connection secure_channel_pool pool_stats)
set(public_http http_client http_client_stats http_message http_request_check websocket_client)
set(public_monitor monitoring_server monitoring_tls monitored_pools pool_metrics run_metrics_task
  http_client_metrics)
set(public_apps securechannel)

# layer_of(<out> <kind> <name>): the rank (0..5) of a source folder or a public header, or -1.
function(layer_of out kind name)
  set(rank 0)
  foreach(layer IN LISTS layer_names)
    if(name IN_LIST ${kind}_${layer})
      set(${out} ${rank} PARENT_SCOPE)
      return()
    endif()
    math(EXPR rank "${rank} + 1")
  endforeach()
  set(${out} -1 PARENT_SCOPE)
endfunction()

set(problems "")
file(GLOB_RECURSE sources RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/src/*.cpp ${SOURCE_DIR}/src/*.hpp
  ${SOURCE_DIR}/include/securechannel/*.hpp ${SOURCE_DIR}/apps/*.cpp ${SOURCE_DIR}/apps/*.hpp)
foreach(source IN LISTS sources)
  # Where the file sits: a folder of src/, a public header, or apps/.
  if(source MATCHES "^src/([a-z_0-9]+)/")
    set(folder ${CMAKE_MATCH_1})
    if(folder STREQUAL "testing")
      continue()  # test fixtures may include anything
    endif()
    layer_of(own folder ${folder})
    if(own EQUAL -1)
      string(APPEND problems "  ${source}: src/${folder} is in no layer (cmake/check_layers.cmake)\n")
      continue()
    endif()
  elseif(source MATCHES "^include/securechannel/(.+)\\.hpp$")
    set(folder "")
    layer_of(own public ${CMAKE_MATCH_1})
    if(own EQUAL -1)
      string(APPEND problems "  ${source}: a public header in no layer (list it in cmake/check_layers.cmake)\n")
      continue()
    endif()
  else()
    set(folder apps)
    set(own 5)
  endif()
  # Both spellings: "pool/lease.hpp" and <pool/lease.hpp> reach the same file through src/.
  file(STRINGS ${SOURCE_DIR}/${source} includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(include IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*" "\\1" header "${include}")
    if(header MATCHES "^securechannel/(.+)\\.h(pp)?$")
      layer_of(theirs public ${CMAKE_MATCH_1})
      if(theirs EQUAL -1)
        string(APPEND problems "  ${source} includes ${header}: a public header in no layer\n")
        continue()
      endif()
      set(kind "public header")
    elseif(header MATCHES "^([a-z_0-9]+)/")
      set(their_folder ${CMAKE_MATCH_1})
      if(their_folder STREQUAL "testing")
        string(APPEND problems "  ${source} includes ${header}: test fixtures are for the tests and benchmarks only\n")
        continue()
      endif()
      layer_of(theirs folder ${their_folder})
      if(theirs EQUAL -1)
        continue()  # not ours: boost/, openssl/, nlohmann/, ...
      endif()
      if(folder STREQUAL "demo" AND NOT their_folder STREQUAL "demo")
        string(APPEND problems "  ${source} includes ${header}: src/demo uses the public headers only\n")
        continue()
      endif()
      set(kind "src/${their_folder}")
    else()
      continue()  # a header beside the file (apps/scpool, tests) or a system header
    endif()
    if(theirs GREATER own)
      list(GET layer_names ${own} own_name)
      list(GET layer_names ${theirs} their_name)
      string(APPEND problems
        "  ${source} includes ${header} (${kind}, layer ${theirs} ${their_name}) from layer ${own} ${own_name}\n")
    endif()
  endforeach()
endforeach()

if(problems)
  message(FATAL_ERROR "Includes that break the layer rule (core -> channel -> pool -> http -> monitor -> apps; "
    "docs/DESIGN.md, \"Layers\"):\n${problems}")
endif()
file(WRITE ${STAMP} "layers checked\n")
