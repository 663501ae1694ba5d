# Metadata (registry, aliases, lineage, drift, locks, audit): SIGHTLINE_META=firestore://PROJECT/(default).
resource "google_firestore_database" "default" {
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.apis]
}

# Bounded growth: one lineage document per served request (collection "lineage_predictions" under the store's
# prefix "sightline"), each with an expireAt Timestamp (PREDICTION_LINEAGE_DAYS after the prediction, written by
# core/lineage/record.ts; core/meta/firestore-store.ts stores EXPIRES_AT as a real Timestamp). Firestore deletes
# expired documents within about a day. No single-field index on it: nothing queries by expiry.
resource "google_firestore_field" "prediction_lineage_ttl" {
  database   = google_firestore_database.default.name
  collection = "sightline_lineage_predictions"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}
