import { z } from "zod";

/**
 * The shapes of Sightline's identifiers, one schema per kind, so a dataset id checked by the CLI is the one the
 * events, the model card and the retrain policy accept.
 */

const HEX64 = "[0-9a-f]{64}";
const NAME = "[a-z0-9][a-z0-9-]{0,62}";
const ALIAS = "[a-z][a-z0-9_-]{0,62}";

/** A SHA-256 as 64 lower-case hex digits: a manifest's file hash, an API key's hash. */
export const SHA256_HEX = new RegExp(`^${HEX64}$`);
export const Sha256Hex = z.string().regex(SHA256_HEX, "expected a SHA-256 (64 hex digits)");

/** A dataset version's id: the SHA-256 of its manifest. */
export const DATASET_ID = SHA256_HEX;
export const DatasetId = z.string().regex(DATASET_ID, "expected a 64-hex dataset id");
export const isDatasetId = (text: string): boolean => DATASET_ID.test(text);

/** A blob's content address, `sha256:<64 hex>`; the group is the hex. */
export const DIGEST = new RegExp(`^sha256:(${HEX64})$`);
export const Digest = z.string().regex(DIGEST, "expected sha256:<64 hex>");

/** A model's name: a DNS-label-like slug, so it can name Kubernetes objects and metric labels. */
export const MODEL_NAME = new RegExp(`^${NAME}$`);
export const ModelName = z.string().regex(MODEL_NAME, "lower-case letters, digits and dashes");

/** `NAME`, `NAME@ALIAS` or `NAME:VERSION`; the groups are the name, the alias and the version. */
export const MODEL_REF = new RegExp(`^(${NAME})(?:@(${ALIAS})|:([1-9][0-9]*))?$`);
export const ModelRefText = z.string().regex(MODEL_REF, "expected NAME, NAME@ALIAS or NAME:VERSION");
