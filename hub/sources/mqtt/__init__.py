"""The MQTT source: devices publish to a broker in the hub's topic layout, and the hub subscribes.

`protocol` is the contract devices implement (topics, payloads, the broker URL), `devices` keeps what each
device announced and merges it into the hub's templates, `rejections` counts bad device messages, and
`source` connects to the broker. Only `source` imports aiomqtt; `hub.sources` imports it only when
`HUB_SOURCE` is an `mqtt://` URL.
"""
