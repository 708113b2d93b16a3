// JSON forms of the evaluation reports, for code inside the library and the
// command-line tool (nlohmann_json stays out of the public headers; they offer
// to_json() strings instead).
#pragma once
#include <nlohmann/json.hpp>

#include "tessera/metrics/report.h"

namespace tessera::metrics {

nlohmann::json report_to_json(const ClassificationReport& r);
nlohmann::json report_to_json(const RegressionReport& r);

}  // namespace tessera::metrics
