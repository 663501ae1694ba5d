# Dashboard and alerts. Serving metrics come from Managed Prometheus (PodMonitoring sightline-serving scrapes the
# sightline_* metrics of serving/metrics.ts) and are queried in PromQL; drift comes from the custom metrics the
# detectDrift function writes (core/telemetry/cloud-monitoring-sink.ts, DRIFT_METRIC_TYPES).

locals {
  drift_metric_prefix = "custom.googleapis.com/sightline/drift"
  serving_selector    = "namespace=\"sightline\""

  promql = {
    request_rate = "sum by (route) (rate(sightline_http_request_duration_seconds_count{${local.serving_selector}}[5m]))"
    latency_p50  = "histogram_quantile(0.5, sum by (le) (rate(sightline_http_request_duration_seconds_bucket{${local.serving_selector}}[5m])))"
    latency_p95  = "histogram_quantile(0.95, sum by (le) (rate(sightline_http_request_duration_seconds_bucket{${local.serving_selector}}[5m])))"
    latency_p99  = "histogram_quantile(0.99, sum by (le) (rate(sightline_http_request_duration_seconds_bucket{${local.serving_selector}}[5m])))"
    error_rate   = "sum(rate(sightline_http_request_duration_seconds_count{${local.serving_selector},status=~\"5..\"}[5m])) / clamp_min(sum(rate(sightline_http_request_duration_seconds_count{${local.serving_selector}}[5m])), 1e-9)"
    predictions  = "sum by (label) (rate(sightline_predictions_total{${local.serving_selector}}[5m]))"
  }

  promql_tile = { for name, query in local.promql : name => {
    timeSeriesQuery = { prometheusQuery = query }
    plotType        = "LINE"
  } }
}

resource "google_monitoring_dashboard" "sightline" {
  dashboard_json = jsonencode({
    displayName = "Sightline"
    mosaicLayout = {
      columns = 12
      tiles = [
        { xPos = 0, yPos = 0, width = 6, height = 4, widget = { title = "Requests per second by route", xyChart = { dataSets = [local.promql_tile.request_rate] } } },
        { xPos = 6, yPos = 0, width = 6, height = 4, widget = { title = "Latency p50 / p95 / p99 (s)", xyChart = { dataSets = [local.promql_tile.latency_p50, local.promql_tile.latency_p95, local.promql_tile.latency_p99] } } },
        { xPos = 0, yPos = 4, width = 6, height = 4, widget = { title = "Share of 5xx answers", xyChart = { dataSets = [local.promql_tile.error_rate] } } },
        { xPos = 6, yPos = 4, width = 6, height = 4, widget = { title = "Predictions per second by label", xyChart = { dataSets = [local.promql_tile.predictions] } } },
        {
          xPos = 0, yPos = 8, width = 6, height = 4
          widget = {
            title = "Drift score by feature"
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter      = "metric.type=\"${local.drift_metric_prefix}/score\""
                    aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_MEAN" }
                  }
                }
              }]
            }
          }
        },
        {
          xPos = 6, yPos = 8, width = 6, height = 4
          widget = {
            title = "Drift detected (1) and window size"
            xyChart = {
              dataSets = [
                {
                  plotType = "STACKED_BAR"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter      = "metric.type=\"${local.drift_metric_prefix}/detected\""
                      aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_MAX" }
                    }
                  }
                },
                {
                  plotType = "LINE"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter      = "metric.type=\"${local.drift_metric_prefix}/window_size\""
                      aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_MAX" }
                    }
                  }
                },
              ]
            }
          }
        },
      ]
    }
  })

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  display_name = "Sightline alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

locals {
  notification_channels = google_monitoring_notification_channel.email[*].id
}

resource "google_monitoring_alert_policy" "drift" {
  display_name          = "Sightline: drift detected"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "drift/detected = 1 for a model version"
    condition_threshold {
      filter          = "metric.type=\"${local.drift_metric_prefix}/detected\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Production traffic drifted from the model's reference profile. `sightline drift report MODEL` shows the tests; the retrain function requests a new training run when the retrain policy allows it."
  }
}

resource "google_monitoring_alert_policy" "error_rate" {
  display_name          = "Sightline: serving error rate"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "share of 5xx answers above ${var.error_rate_threshold}"
    condition_prometheus_query_language {
      query               = "(${local.promql.error_rate}) > ${var.error_rate_threshold}"
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "More than the allowed share of serving requests failed with 5xx. Check the pods' logs and `sightline models show`; `sightline rollback MODEL --reason ... --yes` returns to the previous model."
  }
}

resource "google_monitoring_alert_policy" "latency_p99" {
  display_name          = "Sightline: serving p99 latency"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "p99 latency above ${var.p99_latency_threshold_seconds} s"
    condition_prometheus_query_language {
      query               = "(${local.promql.latency_p99}) > ${var.p99_latency_threshold_seconds}"
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Serving p99 latency is above the threshold. Check CPU saturation (the HPA's maximum) and the batch settings."
  }
}
