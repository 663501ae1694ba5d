# Blobs (datasets, models, reports; content-addressed and immutable): SIGHTLINE_BLOBS=gs://BUCKET/sightline.
resource "google_storage_bucket" "data" {
  name     = "${var.project_id}-sightline"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Blobs are never rewritten, so old versions only come from deletions: keep them 30 days, then drop them.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
  # Large, rarely read blobs (old datasets and models) move to a cheaper class after 90 days.
  lifecycle_rule {
    condition {
      age                   = 90
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.apis]
}

# Build artifacts: the functions' source zips (functions/<commit>.zip), deleted after 30 days.
resource "google_storage_bucket" "build" {
  name     = "${var.project_id}-sightline-build"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}
