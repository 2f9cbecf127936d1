"""ORAS (Python client, oras-py) against wharf-registry: push an artifact with a custom
artifact type (its config media type) in chunks, pull it back, and attach a referrer.

Usage: python3 oras_roundtrip.py <registry host:port> <work dir>
Prints a JSON summary on stdout; exits non-zero on any mismatch.
"""

import json
import os
import sys

import oras.client
import oras.oci
import requests

registry, work = sys.argv[1], sys.argv[2]
os.chdir(work)
with open("rocket.txt", "w") as f:
    f.write("fly me to the moon\n" * 1000)
with open("config.json", "w") as f:
    json.dump({"rocket": "saturn-v"}, f)
with open("sbom.json", "w") as f:
    json.dump({"bomFormat": "CycloneDX", "specVersion": "1.5"}, f)

client = oras.client.OrasClient(hostname=registry, insecure=True)
target = f"{registry}/acme/rocket:1.0"
resp = client.push(
    target=target,
    files=["rocket.txt:application/vnd.acme.rocket.docs.layer.v1+tar"],
    manifest_config="config.json:application/vnd.acme.rocket.config.v1+json",
    manifest_annotations={"org.opencontainers.image.description": "a rocket"},
    do_chunked=True,
    chunk_size=4096,
)
assert resp.status_code == 201, resp.text
subject_digest = resp.headers["Docker-Content-Digest"]

os.makedirs("out", exist_ok=True)
pulled = client.pull(target=target, outdir="out")
with open(pulled[0]) as f, open("rocket.txt") as g:
    assert f.read() == g.read(), "pulled content differs"

# the subject descriptor from the manifest bytes as served
raw = requests.get(
    f"http://{registry}/v2/acme/rocket/manifests/1.0",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    timeout=30,
)
assert raw.headers["Docker-Content-Digest"] == subject_digest
subject = oras.oci.Subject(mediaType="application/vnd.oci.image.manifest.v1+json", digest=subject_digest, size=len(raw.content))
resp = client.push(
    target=f"{registry}/acme/rocket:sbom",
    files=["sbom.json:application/vnd.cyclonedx+json"],
    manifest_config="config.json:application/vnd.acme.sbom.config.v1+json",
    subject=subject,
)
assert resp.status_code == 201, resp.text

print(json.dumps({"subject": subject_digest, "pulled": [os.path.basename(p) for p in pulled]}))
