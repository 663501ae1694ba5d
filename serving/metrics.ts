import client from "prom-client";

/** The API's Prometheus metrics (ARCHITECTURE.md, Serving contract), in their own registry. */
export class ServingMetrics {
  readonly registry = new client.Registry();
  readonly httpDuration = new client.Histogram({
    name: "sightline_http_request_duration_seconds",
    help: "HTTP request latency by route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly predictions = new client.Counter({
    name: "sightline_predictions_total",
    help: "Images classified, by model version and predicted label",
    labelNames: ["model", "version", "label"] as const,
    registers: [this.registry],
  });
  readonly confidence = new client.Histogram({
    name: "sightline_prediction_confidence",
    help: "Probability of the predicted class",
    labelNames: ["model", "version"] as const,
    buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1],
    registers: [this.registry],
  });
  readonly inferenceRequests = new client.Counter({
    name: "sightline_inference_requests_total",
    help: "Requests answered by the data plane, by protocol (predict, oip, vertex) and model version",
    labelNames: ["protocol", "model", "version"] as const,
    registers: [this.registry],
  });
  readonly batchSize = new client.Histogram({
    name: "sightline_batch_size",
    help: "Images per ONNX Runtime run (dynamic micro-batching)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });
  readonly inferenceDuration = new client.Histogram({
    name: "sightline_inference_duration_seconds",
    help: "Time of one ONNX Runtime run, whole batch, by model version",
    labelNames: ["model", "version"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly modelInfo = new client.Gauge({
    name: "sightline_model_info",
    help: "The model version being served (value 1)",
    labelNames: ["model", "version"] as const,
    // Across cluster workers: 1 when any worker serves it, not the number of workers.
    aggregator: "max",
    registers: [this.registry],
  });
  readonly reloads = new client.Counter({
    name: "sightline_model_reloads_total",
    help: "Model loads by result (loaded, failed)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly logRecords = new client.Counter({
    name: "sightline_prediction_log_records_total",
    help: "Prediction records by outcome (published, dropped)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly batchDropped = new client.Counter({
    name: "sightline_batch_dropped_total",
    help: "Images refused by a full batch queue (full) or dropped before running because their request was already answered or abandoned (abandoned)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  /** Images waiting for a batch run; kept by the server, read at scrape time. */
  queuedImages = 0;
  readonly batchQueue: client.Gauge = new client.Gauge({
    name: "sightline_batch_queue_images",
    help: "Images waiting for a batch run",
    registers: [this.registry],
    collect: (): void => this.batchQueue.set(this.queuedImages),
  });

  constructor(options: { defaults?: boolean } = {}) {
    if (options.defaults ?? true) client.collectDefaultMetrics({ register: this.registry });
    this.reloads.inc({ result: "loaded" }, 0);
    this.reloads.inc({ result: "failed" }, 0);
    this.logRecords.inc({ outcome: "published" }, 0);
    this.logRecords.inc({ outcome: "dropped" }, 0);
    this.batchDropped.inc({ reason: "full" }, 0);
    this.batchDropped.inc({ reason: "abandoned" }, 0);
  }

  servingVersion(model: string, version: number | undefined): void {
    this.modelInfo.reset();
    if (version !== undefined) this.modelInfo.set({ model, version: String(version) }, 1);
  }
}
