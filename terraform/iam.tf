# One service account per component, each with the narrowest roles that let it work, granted on the resource
# where IAM allows it (bucket, topic, secret, job, repository) and on the project only where it does not
# (Firestore, Cloud Monitoring, GKE). No primitive role (owner/editor/viewer) anywhere: the test
# test/unit/deploy-consistency.test.ts fails on one. test/unit/deploy-hardening.test.ts checks the grants below
# against what the code does (serving, for one, is run against a metadata store that records every write).
#
# GKE: IAM only lets the retrain function and the deployer find the cluster and reach its DNS endpoint (the custom
# role below: no access to any Kubernetes object); what they may do inside is Kubernetes RBAC, namespaced
# (k8s/base/rbac.yaml).

locals {
  service_accounts = {
    serving         = "Serving pods (KSA sightline/sightline-serving via Workload Identity)"
    console         = "Web console pods (KSA sightline/sightline-console via Workload Identity)"
    trainer         = "Training Jobs (KSA sightline/sightline-trainer via Workload Identity)"
    fn-lineage      = "Function recordLineage"
    fn-drift        = "Function detectDrift"
    fn-retrain      = "Function triggerRetrain (submits training Jobs to GKE)"
    fn-gate         = "Function gateModel"
    drift-check     = "Cloud Run job of the scheduled drift check"
    scheduler       = "Cloud Scheduler: starts the drift-check job"
    pubsub-push     = "Pub/Sub push subscriptions: OIDC identity that invokes the functions"
    functions-build = "Cloud Build of the functions' source"
    gke-nodes       = "GKE nodes (logs, metrics, image pulls)"
    deployer        = "GitHub Actions CD workflow (Workload Identity Federation, no key)"
  }

  # Written out rather than taken from the resource: for_each keys below must be known at plan time.
  gke_connect_role = "projects/${var.project_id}/roles/sightlineGkeConnect"

  function_sa = {
    recordLineage  = "fn-lineage"
    detectDrift    = "fn-drift"
    triggerRetrain = "fn-retrain"
    gateModel      = "fn-gate"
  }

  # Project-level roles: Firestore, Cloud Monitoring and Dataplex lineage have no finer IAM resource. Serving only reads the
  # registry (aliases, versions); every function writes its own records (lineage, drift windows, retrain state,
  # decisions), so they keep datastore.user.
  #
  # The console reads what the CLI reads. Its writes (approve, promote, roll back: decisions, aliases and audit
  # records in Firestore, then model.promoted / model.rolled_back) are off unless var.console_writes grants them.
  project_roles = [
    { sa = "serving", role = "roles/datastore.viewer" },
    { sa = "console", role = "roles/datastore.viewer" },
    { sa = "trainer", role = "roles/datastore.user" },
    { sa = "fn-lineage", role = "roles/datastore.user" },
    # Dataplex lineage has no finer resource: the lineage function sends its OpenLineage RunEvents there
    # (processOpenLineageRunEvent; core/lineage/transport.ts).
    { sa = "fn-lineage", role = "roles/datalineage.producer" },
    { sa = "fn-drift", role = "roles/datastore.user" },
    { sa = "fn-drift", role = "roles/monitoring.metricWriter" },
    { sa = "fn-retrain", role = "roles/datastore.user" },
    { sa = "fn-retrain", role = local.gke_connect_role },
    { sa = "fn-gate", role = "roles/datastore.user" },
    { sa = "drift-check", role = "roles/datastore.user" },
    { sa = "functions-build", role = "roles/logging.logWriter" },
    { sa = "functions-build", role = "roles/artifactregistry.writer" },
    { sa = "gke-nodes", role = "roles/logging.logWriter" },
    { sa = "gke-nodes", role = "roles/monitoring.metricWriter" },
    { sa = "gke-nodes", role = "roles/monitoring.viewer" },
    { sa = "gke-nodes", role = "roles/stackdriver.resourceMetadata.writer" },
    { sa = "deployer", role = "roles/datastore.user" },
    { sa = "deployer", role = local.gke_connect_role },
    { sa = "deployer", role = "roles/cloudfunctions.developer" },
  ]
  console_write_roles = var.console_writes ? [{ sa = "console", role = "roles/datastore.user" }] : []

  # Data bucket: readers and writers (objectUser: create, read, list, delete; no IAM or bucket changes). The drift
  # function only adds blobs (put: exists, then create-only upload), so it gets objectViewer + objectCreator; the
  # gate only reads models and datasets; the lineage function reads none (its records are all in Firestore).
  bucket_roles = [
    { sa = "serving", role = "roles/storage.objectViewer" },
    { sa = "console", role = "roles/storage.objectViewer" },
    { sa = "trainer", role = "roles/storage.objectUser" },
    { sa = "fn-drift", role = "roles/storage.objectViewer" },
    { sa = "fn-drift", role = "roles/storage.objectCreator" },
    { sa = "fn-retrain", role = "roles/storage.objectViewer" },
    { sa = "fn-gate", role = "roles/storage.objectViewer" },
    { sa = "drift-check", role = "roles/storage.objectUser" },
    { sa = "deployer", role = "roles/storage.objectUser" },
  ]

  # Topics each identity publishes to (PubSubBus.publish), plus the dead-letter topic for every consumer.
  publishes = merge(
    {
      serving     = ["sightline.predictions.logged"]
      trainer     = ["sightline.training.requested", "sightline.training.completed", "sightline.training.failed"]
      drift-check = ["sightline.drift.reported"]
      deployer    = ["sightline.model.promoted", "sightline.model.rolled_back", "sightline.training.requested"]
      console     = var.console_writes ? ["sightline.model.promoted", "sightline.model.rolled_back"] : []
    },
    { for fn, sa in local.function_sa : sa => local.function_publishes[fn] },
  )
  topic_roles = {
    for pair in flatten([for sa, types in local.publishes : [for t in types : { sa = sa, type = t }]]) : "${pair.sa}:${pair.type}" => pair
  }
  dead_letter_publishers = concat(values(local.function_sa), ["drift-check"])
}

resource "google_service_account" "sa" {
  for_each = local.service_accounts

  account_id   = "sightline-${each.key}"
  display_name = "Sightline ${each.key}"
  description  = each.value

  depends_on = [google_project_service.apis]
}

# Narrower than roles/container.clusterViewer: get (endpoint and CA, for a kubeconfig) and connect (the DNS-based
# endpoint checks it). Authorisation inside the cluster is RBAC's alone.
resource "google_project_iam_custom_role" "gke_connect" {
  role_id     = "sightlineGkeConnect"
  title       = "Sightline GKE connect"
  description = "Find the Sightline cluster and reach its control plane; Kubernetes RBAC decides the rest."
  permissions = ["container.clusters.get", "container.clusters.connect"]

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "project" {
  for_each = { for b in concat(local.project_roles, local.console_write_roles) : "${b.sa}:${b.role}" => b }

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.sa[each.value.sa].email}"

  depends_on = [google_project_iam_custom_role.gke_connect]
}

resource "google_storage_bucket_iam_member" "data" {
  for_each = { for b in local.bucket_roles : "${b.sa}:${b.role}" => b }

  bucket = google_storage_bucket.data.name
  role   = each.value.role
  member = "serviceAccount:${google_service_account.sa[each.value.sa].email}"
}

resource "google_storage_bucket_iam_member" "build" {
  for_each = {
    deployer        = "roles/storage.objectUser"
    functions-build = "roles/storage.objectViewer"
  }

  bucket = google_storage_bucket.build.name
  role   = each.value
  member = "serviceAccount:${google_service_account.sa[each.key].email}"
}

resource "google_pubsub_topic_iam_member" "publish" {
  for_each = local.topic_roles

  topic  = google_pubsub_topic.events[each.value.type].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.sa[each.value.sa].email}"
}

resource "google_pubsub_topic_iam_member" "dead_letter" {
  for_each = toset(local.dead_letter_publishers)

  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.sa[each.value].email}"
}

# Only the retrain function submits training Jobs, so only it may read (and mounts) the kubeconfig.
resource "google_secret_manager_secret_iam_member" "kubeconfig" {
  for_each = toset([local.function_sa[local.kubeconfig_function]])

  secret_id = google_secret_manager_secret.kubeconfig.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.sa[each.value].email}"
}

resource "google_artifact_registry_repository_iam_member" "images" {
  for_each = {
    gke-nodes = "roles/artifactregistry.reader"
    deployer  = "roles/artifactregistry.writer"
  }

  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = each.value
  member     = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# Workload Identity: the Kubernetes service accounts of k8s/base/serviceaccounts.yaml act as these GSAs.
resource "google_service_account_iam_member" "workload_identity" {
  for_each = {
    serving = "sightline-serving"
    console = "sightline-console"
    trainer = "sightline-trainer"
  }

  service_account_id = google_service_account.sa[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[sightline/${each.value}]"

  depends_on = [google_container_cluster.sightline]
}

# The deployer deploys functions and updates the drift-check job, which run as these identities.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = toset(concat(values(local.function_sa), ["functions-build", "drift-check"]))

  service_account_id = google_service_account.sa[each.value].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.sa["deployer"].email}"
}

# Pub/Sub signs the push subscriptions' OIDC tokens as the push service account.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.sa["pubsub-push"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# --- Workload Identity Federation for GitHub Actions (no JSON keys) ---

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"
  depends_on                = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-oidc"
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"             = "assertion.sub"
    "attribute.repository"       = "assertion.repository"
    "attribute.ref"              = "assertion.ref"
    "attribute.job_workflow_ref" = "assertion.job_workflow_ref"
    "attribute.environment"      = "assertion.environment"
  }
  # Only the CD workflow file, run from this repository's main branch, in the environment whose reviewers approve
  # deployments, can obtain tokens: another workflow (or a branch's copy of this one) cannot.
  attribute_condition = join(" && ", [
    "assertion.repository == \"${var.github_repository}\"",
    "assertion.ref == \"refs/heads/main\"",
    "assertion.job_workflow_ref == \"${var.github_repository}/.github/workflows/cd.yml@refs/heads/main\"",
    "assertion.environment == \"${var.github_environment}\"",
  ])

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "deployer_wif" {
  service_account_id = google_service_account.sa["deployer"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}
