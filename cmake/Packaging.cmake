# Debian packages (cpack -G DEB in the build folder; packaging/test-deb installs and tries them):
#   securechannel          scpool, libsecurechannel.so.0 (the C ABI), the systemd unit, the docs
#                          and an example file; its library dependencies found by dpkg-shlibdeps;
#   libsecurechannel-dev   headers, libsecurechannel.a, the CMake package and securechannel.pc,
#                          depending on the -dev packages of what the static library links.
set(CPACK_PACKAGE_NAME securechannel)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "securechannel")
set(CPACK_PACKAGE_CONTACT "securechannel maintainers <securechannel@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Warm, verified TLS connection pools: library and daemon")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Runtime Development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/securechannel/securechannel")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME securechannel)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps asks for libssl3 (>= 3.0.0); the pool needs the CVE-2024-4741 fix in
# SSL_free_buffers (3.0.14, as CMakeLists.txt requires to build). Added to what shlibdeps finds.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libssl3 (>= 3.0.14)")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "scpool (the pool daemon and command line) and the C ABI library")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libsecurechannel-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION "securechannel C++ library (static), headers, CMake package, pkg-config file")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "securechannel (= ${PROJECT_VERSION}), libssl-dev (>= 3.0.14), libboost1.81-dev, libnghttp2-dev, libbrotli-dev, zlib1g-dev, libfmt-dev, libspdlog-dev, nlohmann-json3-dev, libtomlplusplus-dev, pkg-config")
include(CPack)
