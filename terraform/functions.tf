# The four event functions of functions/index.ts (Cloud Functions gen2), one per entry of events.json "functions"
# (= FUNCTION_SUBSCRIPTIONS). Each is built from the repository's source zip (.github/scripts/functions-source.sh)
# and receives its event types through the push subscriptions of pubsub.tf. The CD workflow redeploys them from
# each commit's zip with the new trainer image (gcloud functions deploy), hence ignore_changes below.

locals {
  # recordLineage → sightline-record-lineage (a Cloud Run service name: lower case and dashes).
  function_names = { for fn in keys(local.events.functions) : fn => "sightline-${lower(replace(fn, "/([A-Z])/", "-$1"))}" }

  # What each function's service account may publish (besides dead letters), from ARCHITECTURE.md's event table.
  function_publishes = {
    recordLineage  = []
    detectDrift    = ["sightline.drift.reported"]
    triggerRetrain = ["sightline.training.requested"]
    gateModel      = ["sightline.model.promoted"]
  }

  kubeconfig_path = "/etc/sightline/kube/config"
  # The one function that submits training Jobs: the only one that mounts the kubeconfig and is told the cluster.
  kubeconfig_function = "triggerRetrain"

  # The environment of functions/context.ts and core/config/config.ts, common to all four.
  function_env = {
    NODE_ENV        = "production"
    SIGHTLINE_HOME  = "/tmp/sightline"
    SIGHTLINE_BLOBS = "gs://${google_storage_bucket.data.name}/sightline"
    SIGHTLINE_META  = "firestore://${var.project_id}/${google_firestore_database.default.name}"
    SIGHTLINE_BUS   = "pubsub://${var.project_id}"
  }
  # What only one function uses. The others leave SIGHTLINE_JOBS at its default (local://): they open a job runner
  # they never call, which needs neither a cluster nor a trainer image.
  function_env_extra = {
    # The lineage function sends each training run to Dataplex as it records it (core/config/openlineage.ts).
    recordLineage = {
      SIGHTLINE_OPENLINEAGE_URL      = "https://datalineage.googleapis.com"
      SIGHTLINE_OPENLINEAGE_ENDPOINT = "v1/projects/${var.project_id}/locations/${var.region}:processOpenLineageRunEvent"
      SIGHTLINE_OPENLINEAGE_AUTH     = "google"
      SIGHTLINE_GIT_REPO_URL         = "https://github.com/${var.github_repository}"
    }
    detectDrift = {
      SIGHTLINE_DRIFT_METRICS = "monitoring://${var.project_id}"
    }
    triggerRetrain = {
      SIGHTLINE_JOBS          = "k8s://sightline"
      SIGHTLINE_TRAINER_IMAGE = var.trainer_image
      KUBECONFIG              = local.kubeconfig_path
    }
    gateModel = {}
  }
}

resource "google_cloudfunctions2_function" "functions" {
  for_each = local.function_names

  name     = each.value
  location = var.region

  build_config {
    runtime         = var.functions_runtime
    entry_point     = each.key
    service_account = google_service_account.sa["functions-build"].id
    source {
      storage_source {
        bucket = google_storage_bucket.build.name
        object = var.functions_source_object
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.sa[local.function_sa[each.key]].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = each.key == "gateModel" ? "2Gi" : "1Gi"
    available_cpu                    = "1"
    timeout_seconds                  = each.key == "gateModel" ? 540 : 120
    max_instance_count               = each.key == "recordLineage" ? 10 : 3
    max_instance_request_concurrency = 1
    environment_variables            = merge(local.function_env, local.function_env_extra[each.key])

    # A kubeconfig without credentials (an exec plugin asks the metadata server for the function's token):
    # how the retrain function's GkeJobRunner reaches the cluster. No other function mounts it.
    dynamic "secret_volumes" {
      for_each = each.key == local.kubeconfig_function ? [local.kubeconfig_path] : []
      content {
        mount_path = dirname(secret_volumes.value)
        project_id = var.project_id
        secret     = google_secret_manager_secret.kubeconfig.secret_id
        versions {
          version = "latest"
          path    = basename(secret_volumes.value)
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [
      build_config[0].source,
      build_config[0].docker_repository,
      service_config[0].environment_variables["SIGHTLINE_TRAINER_IMAGE"],
    ]
  }

  depends_on = [google_project_service.apis, google_secret_manager_secret_version.kubeconfig]
}

# Only the push service account may invoke the functions (ingress is internal: Pub/Sub push in the project).
resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = google_cloudfunctions2_function.functions

  location = var.region
  service  = each.value.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.sa["pubsub-push"].email}"
}

resource "google_secret_manager_secret" "kubeconfig" {
  secret_id = "sightline-kubeconfig"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "kubeconfig" {
  secret = google_secret_manager_secret.kubeconfig.id
  # The DNS-based endpoint: reachable from Cloud Functions without an authorised network, IAM-checked.
  secret_data = templatefile("${path.module}/kubeconfig.yaml.tftpl", {
    endpoint = google_container_cluster.sightline.control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint
  })
}
