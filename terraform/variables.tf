variable "project_id" {
  description = "Google Cloud project that hosts Sightline (an empty project with billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid project id (6-30 lower-case letters, digits and dashes)."
  }
}

variable "region" {
  description = "Region of every regional resource: GKE cluster, Artifact Registry, bucket, functions, scheduler."
  type        = string
  default     = "europe-west1"
}

variable "firestore_location" {
  description = "Location of the Firestore (Native mode) database; a region or a multi-region such as eur3."
  type        = string
  default     = "eur3"
}

variable "github_repository" {
  description = "GitHub repository (OWNER/NAME) whose main-branch workflows may deploy, through Workload Identity Federation."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like OWNER/NAME."
  }
}

variable "github_environment" {
  description = "GitHub environment the CD jobs that reach Google Cloud run in (create it with required reviewers and the main branch only); Workload Identity Federation admits no other."
  type        = string
  default     = "production"
}

variable "gke_authorized_networks" {
  description = "CIDR ranges allowed to reach the cluster's IP-based control-plane endpoint (e.g. an office or VPN egress). Empty: none; the CD workflow, the retrain function and kubectl use the DNS-based endpoint, which IAM guards."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = []

  validation {
    condition     = alltrue([for n in var.gke_authorized_networks : can(cidrhost(n.cidr_block, 0)) && n.cidr_block != "0.0.0.0/0"])
    error_message = "Each authorised network must be a CIDR range narrower than 0.0.0.0/0."
  }
}

variable "network_ranges" {
  description = "IPv4 ranges of the cluster's VPC subnet: nodes (primary), pods and services (secondary)."
  type = object({
    nodes    = optional(string, "10.10.0.0/20")
    pods     = optional(string, "10.20.0.0/14")
    services = optional(string, "10.30.0.0/20")
  })
  default = {}
}

variable "trainer_image" {
  description = "Trainer image pinned by digest (REGION-docker.pkg.dev/PROJECT/sightline/trainer@sha256:...). Used by the retrain function for GKE Jobs and by the scheduled drift check; the CD workflow updates both on every deploy."
  type        = string

  validation {
    condition     = can(regex("^[^\\s@]+@sha256:[0-9a-f]{64}$", var.trainer_image))
    error_message = "trainer_image must be pinned by digest (…@sha256:<64 hex>)."
  }
}

variable "functions_source_object" {
  description = "Object in the build bucket holding the functions' source zip (functions/<commit>.zip, made by .github/scripts/functions-source.sh). The CD workflow redeploys the functions from newer zips."
  type        = string
}

variable "functions_runtime" {
  description = "Cloud Functions runtime; needs Node >= 22.19 with type stripping (the code is TypeScript run by Node)."
  type        = string
  default     = "nodejs24"
}

variable "model_name" {
  description = "Model the serving Deployment serves and the CD workflow trains and gates."
  type        = string
  default     = "fmnist"
}

variable "drift_check_schedule" {
  description = "Cron schedule (in drift_check_time_zone) of the periodic drift check (sightline drift check: judges windows that are due by age)."
  type        = string
  default     = "*/15 * * * *"
}

variable "drift_check_time_zone" {
  description = "Time zone of drift_check_schedule."
  type        = string
  default     = "Etc/UTC"
}

variable "gke_machine_type" {
  description = "Machine type of the GKE node pool (serving pods request 1 CPU, training Jobs 2 CPUs)."
  type        = string
  default     = "e2-standard-4"
}

variable "gke_max_nodes_per_zone" {
  description = "Upper bound of the node pool's autoscaler, per zone of the regional cluster."
  type        = number
  default     = 4
}

variable "alert_email" {
  description = "Address that receives alert notifications; empty for none (alerts still show in the console)."
  type        = string
  default     = ""
}

variable "p99_latency_threshold_seconds" {
  description = "Alert when the serving p99 latency over 5 minutes exceeds this many seconds."
  type        = number
  default     = 0.5
}

variable "error_rate_threshold" {
  description = "Alert when the share of 5xx answers over 5 minutes exceeds this fraction."
  type        = number
  default     = 0.02
}

variable "gpu_node_pool" {
  description = "A GPU node pool for trainers that request nvidia.com/gpu (select it with nodeSelector cloud.google.com/gke-accelerator: <accelerator>). Scales from zero; off by default."
  type = object({
    enabled               = bool
    accelerator           = optional(string, "nvidia-l4")
    accelerators_per_node = optional(number, 1)
    machine_type          = optional(string, "g2-standard-8")
    max_nodes             = optional(number, 2)
    zones                 = optional(list(string), [])
    spot                  = optional(bool, true)
  })
  default = { enabled = false }
}

variable "console_writes" {
  description = "Let the web console approve, promote and roll back (IAP-identified users; k8s/console/README.md): Firestore read-write and publishing model.promoted / model.rolled_back. Off: the console only reads."
  type        = bool
  default     = false
}
