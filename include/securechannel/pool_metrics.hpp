// The Prometheus series of one pool (ARCHITECTURE.md "Observability contract"), aggregated at
// scrape time from the pool's counters, gauges and histograms. Nothing is registered per
// connection, and each event is counted once: connection-level data is summed here, never
// double-booked by the pool (seeds 001 and 003).
//
// Every series carries the label endpoint="host:port"; the metric prefix is the pool's
// namespace (with_namespace), so pools in different namespaces never collide, and pools sharing
// a namespace share families and differ by endpoint.
#pragma once

#include "securechannel/prometheus_text.hpp"
#include "securechannel/secure_channel_pool.hpp"

namespace securechannel {

void collect_pool_metrics(const SecureChannelPool& pool, MetricFamilies& families);

}  // namespace securechannel
