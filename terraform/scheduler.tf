# Periodic drift checks. `sightline drift check` judges the prediction windows that are due by age (a window
# that never fills up still gets a verdict). It runs as a Cloud Run job in the trainer image (which carries the
# CLI, trainer/Dockerfile) with the drift-check service account; Cloud Scheduler starts an execution through the
# Cloud Run Admin API. The CD workflow moves the job to each new trainer image (hence ignore_changes).
resource "google_cloud_run_v2_job" "drift_check" {
  name     = "sightline-drift-check"
  location = var.region

  template {
    task_count = 1
    template {
      service_account = google_service_account.sa["drift-check"].email
      max_retries     = 1
      timeout         = "600s"

      containers {
        image = var.trainer_image
        args  = ["cli/sightline.ts", "drift", "check"]

        env {
          name  = "SIGHTLINE_BLOBS"
          value = "gs://${google_storage_bucket.data.name}/sightline"
        }
        env {
          name  = "SIGHTLINE_META"
          value = "firestore://${var.project_id}/${google_firestore_database.default.name}"
        }
        env {
          name  = "SIGHTLINE_BUS"
          value = "pubsub://${var.project_id}"
        }
        env {
          name  = "SIGHTLINE_HOME"
          value = "/tmp/sightline"
        }
        env {
          name  = "SIGHTLINE_ACTOR"
          value = "cloud-scheduler"
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }
      }
    }
  }

  deletion_protection = false

  lifecycle {
    ignore_changes = [template[0].template[0].containers[0].image]
  }

  depends_on = [google_project_service.apis]
}

resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_drift_check" {
  location = google_cloud_run_v2_job.drift_check.location
  name     = google_cloud_run_v2_job.drift_check.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.sa["scheduler"].email}"
}

# The deployer points the job at each new trainer image.
resource "google_cloud_run_v2_job_iam_member" "deployer_updates_drift_check" {
  location = google_cloud_run_v2_job.drift_check.location
  name     = google_cloud_run_v2_job.drift_check.name
  role     = "roles/run.developer"
  member   = "serviceAccount:${google_service_account.sa["deployer"].email}"
}

resource "google_cloud_scheduler_job" "drift_check" {
  name        = "sightline-drift-check"
  region      = var.region
  description = "Runs sightline drift check (Cloud Run job sightline-drift-check)"
  schedule    = var.drift_check_schedule
  time_zone   = var.drift_check_time_zone

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.drift_check.name}:run"

    oauth_token {
      service_account_email = google_service_account.sa["scheduler"].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }
}
