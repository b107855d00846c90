"""What every connector and the pipeline share: the record model, the connector contract, the
provider registry, the client API, errors, retries, secret masking, validation and batching."""
