#include "securechannel/metrics_registry.hpp"

#include <gtest/gtest.h>

namespace securechannel {
namespace {

MetricsRegistry::Collector gauge(std::string name, double value) {
  return [name, value](MetricFamilies& families) {
    families.family(name, "A gauge.", MetricType::gauge).sample(name, {}, value);
  };
}

TEST(MetricsRegistryTest, RendersCollectorsInRegistrationOrder) {
  MetricsRegistry registry;
  auto first = registry.add("first", gauge("a_value", 1));
  auto second = registry.add("second", gauge("b_value", 2));
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(registry.render(),
            "# HELP a_value A gauge.\n# TYPE a_value gauge\na_value 1\n"
            "# HELP b_value A gauge.\n# TYPE b_value gauge\nb_value 2\n");
}

TEST(MetricsRegistryTest, SameKeyIsRegisteredOnlyOnce) {
  MetricsRegistry registry;
  auto first = registry.add("relay|a:443", gauge("a_value", 1));
  auto again = registry.add("relay|a:443", gauge("a_value", 2));
  EXPECT_TRUE(first);
  EXPECT_FALSE(again);
  EXPECT_EQ(registry.render(), "# HELP a_value A gauge.\n# TYPE a_value gauge\na_value 1\n");
}

TEST(MetricsRegistryTest, RegistrationRemovesItsCollectorWhenDestroyed) {
  MetricsRegistry registry;
  {
    auto registration = registry.add("temporary", gauge("t_value", 1));
    EXPECT_TRUE(registry.contains("temporary"));
  }
  EXPECT_FALSE(registry.contains("temporary"));
  EXPECT_EQ(registry.render(), "");
  // The key is free again.
  EXPECT_TRUE(registry.add("temporary", gauge("t_value", 1)));
}

TEST(MetricsRegistryTest, RegistrationOutlivingTheRegistryIsHarmless) {
  MetricsRegistry::Registration registration;
  {
    MetricsRegistry registry;
    registration = registry.add("key", gauge("k_value", 1));
  }
  registration.reset();  // must not touch the destroyed registry
  EXPECT_FALSE(registration);
}

TEST(MetricsRegistryTest, ConflictsAreReported) {
  MetricsRegistry registry;
  auto counter = registry.add("c", [](MetricFamilies& f) { f.family("x", "X.", MetricType::counter).sample("x", {}, 1); });
  auto as_gauge = registry.add("g", [](MetricFamilies& f) { f.family("x", "X.", MetricType::gauge).sample("x", {}, 2); });
  std::vector<std::string> conflicts;
  EXPECT_EQ(registry.render(&conflicts), "# HELP x X.\n# TYPE x counter\nx 1\n");
  EXPECT_EQ(conflicts.size(), 1u);
}

}  // namespace
}  // namespace securechannel
