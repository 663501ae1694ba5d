output "cluster_name" {
  description = "GKE cluster (gcloud container clusters get-credentials CLUSTER --region REGION)."
  value       = google_container_cluster.sightline.name
}

output "cluster_dns_endpoint" {
  description = "DNS-based control-plane endpoint (gcloud container clusters get-credentials CLUSTER --region REGION --dns-endpoint); IAM-checked, reachable without an authorised network."
  value       = google_container_cluster.sightline.control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint
}

output "region" {
  description = "Region of the cluster, registry, functions and scheduler."
  value       = var.region
}

output "image_registry" {
  description = "Docker repository for the images: REGISTRY/serving and REGISTRY/trainer."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "data_bucket" {
  description = "Bucket of the blobs (SIGHTLINE_BLOBS=gs://BUCKET/sightline)."
  value       = google_storage_bucket.data.name
}

output "build_bucket" {
  description = "Bucket of the functions' source zips."
  value       = google_storage_bucket.build.name
}

output "service_accounts" {
  description = "Email of each component's service account."
  value       = { for k, sa in google_service_account.sa : k => sa.email }
}

output "function_names" {
  description = "Cloud Functions (gen2) by entry point."
  value       = local.function_names
}

output "workload_identity_provider" {
  description = "Full name of the GitHub OIDC provider (GitHub variable GCP_WORKLOAD_IDENTITY_PROVIDER)."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "github_variables" {
  description = "Repository variables the CD workflow reads (Settings → Secrets and variables → Actions → Variables)."
  value = {
    GCP_PROJECT_ID                 = var.project_id
    GCP_REGION                     = var.region
    GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.github.name
    GCP_DEPLOYER_SERVICE_ACCOUNT   = google_service_account.sa["deployer"].email
    GKE_CLUSTER                    = google_container_cluster.sightline.name
    IMAGE_REGISTRY                 = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
    BUILD_BUCKET                   = google_storage_bucket.build.name
    SIGHTLINE_BLOBS                = "gs://${google_storage_bucket.data.name}/sightline"
    SIGHTLINE_META                 = "firestore://${var.project_id}/${google_firestore_database.default.name}"
    SIGHTLINE_BUS                  = "pubsub://${var.project_id}"
    SIGHTLINE_MODEL_NAME           = var.model_name
  }
}

output "kustomize_gcp_env" {
  description = "Contents of k8s/overlays/<env>/gcp.env for this project."
  value       = <<-EOT
    GOOGLE_CLOUD_PROJECT=${var.project_id}
    GSA_DOMAIN=${var.project_id}.iam.gserviceaccount.com
    SIGHTLINE_BLOBS=gs://${google_storage_bucket.data.name}/sightline
    SIGHTLINE_META=firestore://${var.project_id}/${google_firestore_database.default.name}
    SIGHTLINE_BUS=pubsub://${var.project_id}
  EOT
}
