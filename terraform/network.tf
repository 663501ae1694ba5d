# The cluster's own VPC. Nodes have no external address (gke.tf, private nodes) and leave the VPC only for Google
# APIs, through Private Google Access on private.googleapis.com (199.36.153.8/30): the private DNS zones below
# resolve *.googleapis.com, *.pkg.dev (Artifact Registry) and *.gcr.io (GKE's system images) there, and the firewall
# denies every other destination outside the VPC. Pods are narrowed further by k8s/base/networkpolicy.yaml.

locals {
  # private.googleapis.com: the Google APIs range reachable without an external address (Private Google Access).
  private_google_access_cidr = "199.36.153.8/30"
  private_google_access_ips  = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]

  # Domain → the name that holds the A records; every other name in the domain is a CNAME to it.
  private_google_domains = {
    "googleapis.com." = "private.googleapis.com."
    "pkg.dev."        = "pkg.dev."
    "gcr.io."         = "gcr.io."
  }
}

resource "google_compute_network" "sightline" {
  name                    = "sightline"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "gke" {
  name          = "sightline-gke"
  region        = var.region
  network       = google_compute_network.sightline.id
  ip_cidr_range = var.network_ranges.nodes

  # Nodes without external addresses reach Google APIs (images, logs, metrics, the stores) this way.
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.network_ranges.pods
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.network_ranges.services
  }
}

resource "google_dns_managed_zone" "private_google" {
  for_each = local.private_google_domains

  name        = "sightline-${replace(trimsuffix(each.key, "."), ".", "-")}"
  dns_name    = each.key
  description = "Private Google Access: ${each.key} resolves to private.googleapis.com inside the Sightline VPC"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = google_compute_network.sightline.id
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_dns_record_set" "private_google_a" {
  for_each = local.private_google_domains

  managed_zone = google_dns_managed_zone.private_google[each.key].name
  name         = each.value
  type         = "A"
  ttl          = 300
  rrdatas      = local.private_google_access_ips
}

resource "google_dns_record_set" "private_google_cname" {
  for_each = local.private_google_domains

  managed_zone = google_dns_managed_zone.private_google[each.key].name
  name         = "*.${each.key}"
  type         = "CNAME"
  ttl          = 300
  rrdatas      = [each.value]
}

# Egress: Google APIs over HTTPS and the VPC's own ranges (nodes, pods, services, the control plane's private
# endpoint, which lives in the node subnet); everything else is denied. The metadata server (169.254.169.254) is
# always reachable and not subject to firewall rules.
resource "google_compute_firewall" "egress_google_apis" {
  name               = "sightline-egress-google-apis"
  network            = google_compute_network.sightline.id
  direction          = "EGRESS"
  priority           = 1000
  destination_ranges = [local.private_google_access_cidr]

  allow {
    protocol = "tcp"
    ports    = ["443"]
  }
}

resource "google_compute_firewall" "egress_internal" {
  name               = "sightline-egress-internal"
  network            = google_compute_network.sightline.id
  direction          = "EGRESS"
  priority           = 1000
  destination_ranges = [var.network_ranges.nodes, var.network_ranges.pods, var.network_ranges.services]

  allow {
    protocol = "all"
  }
}

resource "google_compute_firewall" "egress_deny_all" {
  name               = "sightline-egress-deny-all"
  network            = google_compute_network.sightline.id
  direction          = "EGRESS"
  priority           = 65000
  destination_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
