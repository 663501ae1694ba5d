# Topics and subscriptions exactly as core/events/pubsub-bus.ts names them: one topic per event type
# (topicFor: dots → dashes), one subscription per (consumer, event type) named "<consumer>--<topic>", every one
# with a dead-letter policy to the shared "sightline-dead-letter" topic. The list comes from events.json, which
# test/unit/deploy-consistency.test.ts keeps equal to core/events.

locals {
  events            = jsondecode(file("${path.module}/events.json"))
  event_topics      = local.events.event_topics
  dead_letter_topic = local.events.dead_letter_topic

  # One push subscription per (function, event type): the function's consumer name and the topic of the type.
  function_subscriptions = merge([
    for fn, spec in local.events.functions : {
      for type in spec.types : "${spec.subscription}--${local.event_topics[type]}" => {
        function = fn
        type     = type
        topic    = local.event_topics[type]
      }
    }
  ]...)

  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

data "google_project" "this" {}

resource "google_pubsub_topic" "events" {
  for_each = local.event_topics

  name                       = each.value
  message_retention_duration = "604800s"
  labels                     = { event-type = replace(replace(each.key, ".", "-"), "_", "-") }

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  name                       = local.dead_letter_topic
  message_retention_duration = "2678400s"

  depends_on = [google_project_service.apis]
}

# Dead letters are kept a week until replayed: `sightline events dead-letters list|replay` reads this subscription
# (PubSubBus.deadLetterStoreName: DEAD_LETTER_STORE "dead-letters" on the dead-letter topic).
resource "google_pubsub_subscription" "dead_letters" {
  name                       = "dead-letters--${local.dead_letter_topic}"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 120
  expiration_policy {
    ttl = ""
  }
}

# Delivery to the functions: Pub/Sub pushes each message to the function's endpoint at the path
# /projects/PROJECT/topics/TOPIC, which the Functions Framework turns into a CloudEvent whose data is the Pub/Sub
# message (functions/index.ts decodes it), authenticated with an OIDC token of the push service account.
resource "google_pubsub_subscription" "functions" {
  for_each = local.function_subscriptions

  name                 = each.key
  topic                = google_pubsub_topic.events[each.value.type].id
  ack_deadline_seconds = 600

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.functions[each.value.function].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic}"
    oidc_token {
      service_account_email = google_service_account.sa["pubsub-push"].email
      audience              = google_cloudfunctions2_function.functions[each.value.function].service_config[0].uri
    }
  }

  # Sized for a real outage (Firestore, the GKE API or a downstream service down for an hour): exponential backoff
  # 10 s … 600 s (Pub/Sub's maximum) over 20 attempts is about 2 h 20 min of retries before Pub/Sub forwards the
  # message to the dead-letter topic, where `sightline events dead-letters list|replay` finds it. The functions
  # themselves dead-letter invalid events at once, with the reason.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 20
  }
  expiration_policy {
    ttl = ""
  }
  message_retention_duration = "604800s"
}

# Pub/Sub's own service agent forwards exhausted messages: it must publish to the dead-letter topic and
# acknowledge on the source subscriptions.
resource "google_pubsub_topic_iam_member" "dead_letter_forwarder" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_forwarder" {
  for_each = google_pubsub_subscription.functions

  subscription = each.value.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
