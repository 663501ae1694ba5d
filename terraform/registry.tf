# Docker repository of the serving, trainer and console images (REGION-docker.pkg.dev/PROJECT/sightline/NAME; NAME is
# one of the IMAGES of .github/workflows/cd.yml).
resource "google_artifact_registry_repository" "images" {
  repository_id = "sightline"
  location      = var.region
  format        = "DOCKER"
  description   = "Sightline container images (built by .github/workflows/cd.yml, tagged with the commit)"

  # Tags name commits; deployments use digests. Keep the 20 newest versions, delete untagged ones after a week.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "604800s"
    }
  }

  depends_on = [google_project_service.apis]
}
