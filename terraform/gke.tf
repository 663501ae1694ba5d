# Regional GKE Standard cluster: Workload Identity (pods act as Google service accounts, no keys), Managed Service
# for Prometheus (scrapes the PodMonitoring of k8s/base), Dataplane V2 (enforces the NetworkPolicies), private
# nodes in the VPC of network.tf. The control plane's IP endpoint admits only var.gke_authorized_networks; the CD
# workflow and the retrain function use its DNS-based endpoint, where IAM (container.clusters.connect) is checked
# before Kubernetes RBAC.
resource "google_container_cluster" "sightline" {
  name     = "sightline"
  location = var.region

  network    = google_compute_network.sightline.id
  subnetwork = google_compute_subnetwork.gke.id

  # The node pool below replaces the default one.
  remove_default_node_pool = true
  initial_node_count       = 1

  release_channel {
    channel = "REGULAR"
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true
    }
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  datapath_provider = "ADVANCED_DATAPATH"

  # The Gateway API (GKE's gateway classes and CRDs): the console's HTTPS Gateway with IAP (k8s/console/iap), which
  # the CD workflow applies with the prod overlay.
  gateway_api_config {
    channel = "CHANNEL_STANDARD"
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  # Nodes get no external address; they reach Google APIs through Private Google Access (network.tf).
  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
  }

  master_authorized_networks_config {
    gcp_public_cidrs_access_enabled = false
    dynamic "cidr_blocks" {
      for_each = var.gke_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  control_plane_endpoints_config {
    dns_endpoint_config {
      allow_external_traffic = true
    }
  }

  # Node metadata is concealed from pods; only the GKE metadata server answers them.
  node_config {
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }

  deletion_protection = true

  depends_on = [google_project_service.apis]
}

resource "google_container_node_pool" "default" {
  name     = "default"
  cluster  = google_container_cluster.sightline.id
  location = var.region

  initial_node_count = 1
  autoscaling {
    min_node_count = 1
    max_node_count = var.gke_max_nodes_per_zone
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.gke_machine_type
    disk_size_gb    = 50
    disk_type       = "pd-balanced"
    service_account = google_service_account.sa["gke-nodes"].email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    metadata = {
      disable-legacy-endpoints = "true"
    }
  }
}

# Accelerators for bring-your-own trainers that ask for `nvidia.com/gpu` (docs/trainer-contract.md). Off by default;
# when on, it scales from zero, so it costs nothing while no training Job wants a GPU. GKE taints these nodes, and
# adds the matching toleration to pods that request a GPU, so nothing else lands on them.
resource "google_container_node_pool" "gpu" {
  count    = var.gpu_node_pool.enabled ? 1 : 0
  name     = "gpu"
  cluster  = google_container_cluster.sightline.id
  location = var.region

  node_locations     = length(var.gpu_node_pool.zones) > 0 ? var.gpu_node_pool.zones : null
  initial_node_count = 0
  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.gpu_node_pool.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.gpu_node_pool.machine_type
    disk_size_gb    = 100
    disk_type       = "pd-balanced"
    spot            = var.gpu_node_pool.spot
    service_account = google_service_account.sa["gke-nodes"].email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels = {
      "sightline.dev/pool" = "gpu"
    }

    guest_accelerator {
      type  = var.gpu_node_pool.accelerator
      count = var.gpu_node_pool.accelerators_per_node
      gpu_driver_installation_config {
        gpu_driver_version = "DEFAULT"
      }
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    metadata = {
      disable-legacy-endpoints = "true"
    }
  }
}
