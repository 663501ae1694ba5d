# Providers are pinned to exact versions; upgrade deliberately (terraform init -upgrade, then review the plan).
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.49.0"
    }
  }

  # Remote state in Cloud Storage (versioned bucket created once by hand, docs/deploy-gcp.md step 2):
  #   terraform init -backend-config="bucket=<PROJECT_ID>-tfstate"
  backend "gcs" {
    prefix = "sightline"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app        = "sightline"
    managed-by = "terraform"
  }
}
