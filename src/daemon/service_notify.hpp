// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to the socket
// named by $NOTIFY_SOCKET. With `Type=notify` (packaging/scpool.service) systemd starts the
// units after ours only once the pools are built and every listener is bound.
//
//   daemon::notify_service_manager("READY=1");      // after start-up
//   daemon::notify_service_manager("RELOADING=1");  // SIGHUP, then "READY=1" again
//   daemon::notify_service_manager("STOPPING=1");
#pragma once

#include <string_view>

namespace securechannel::daemon {

// False when there is no service manager to tell ($NOTIFY_SOCKET unset) or sending failed.
bool notify_service_manager(std::string_view state);

}  // namespace securechannel::daemon
