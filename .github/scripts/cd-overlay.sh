#!/usr/bin/env bash
# Writes the CD workflow's kustomize overlays on top of k8s/overlays/OVERLAY, with the images it pushed pinned by
# digest (k8s/overlays/cd/pinned), and the two sets it applies one after the other, split by the label every console
# object carries (k8s/console/base/kustomization.yaml):
#   k8s/overlays/cd/serving  everything but the console, and without the Namespace and the RBAC objects (the cluster
#                            administrator's: docs/deploy-gcp.md, step 5);
#   k8s/overlays/cd/console  the console's objects only.
# One overlay and one image mapping for both: namespace, labels and the stores' URIs come from k8s/overlays/OVERLAY.
# Usage: cd-overlay.sh OVERLAY SERVING_IMAGE CONSOLE_IMAGE   (images as REGISTRY/NAME@sha256:…)
set -euo pipefail
overlay=${1:?overlay (dev or prod)} serving=${2:?serving image} console=${3:?console image}
for image in "$serving" "$console"; do
  [[ $image =~ ^[^@]+@sha256:[0-9a-f]{64}$ ]] || { echo "cd-overlay.sh: ${image} is not pinned by digest" >&2; exit 64; }
done
[ -f "k8s/overlays/${overlay}/kustomization.yaml" ] || { echo "cd-overlay.sh: no overlay k8s/overlays/${overlay}" >&2; exit 64; }

dir=k8s/overlays/cd
mkdir -p "$dir/pinned" "$dir/serving" "$dir/console"
cat > "$dir/pinned/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../${overlay}
images:
  - name: sightline-serving
    newName: ${serving%@*}
    digest: ${serving#*@}
  - name: sightline-console
    newName: ${console%@*}
    digest: ${console#*@}
YAML
# A patch that deletes whatever its target selects.
delete='    patch: |-
      $patch: delete
      kind: Any
      metadata:
        name: any'
cat > "$dir/serving/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../pinned
patches:
  - target:
      kind: (Namespace|Role|RoleBinding)
${delete}
  - target:
      labelSelector: app.kubernetes.io/component=console
${delete}
YAML
cat > "$dir/console/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../pinned
patches:
  - target:
      labelSelector: app.kubernetes.io/component!=console
${delete}
YAML
