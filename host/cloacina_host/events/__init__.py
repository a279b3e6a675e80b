"""The event plane: how accepted events reach a tenant's reactors.

Embedded (the default, :class:`.plane.EmbeddedEvents`): the replica that accepts an event
pushes it into its own tenant worker at once. JetStream (``--events nats://…``,
:class:`.jetstream.JetStreamEvents`): every replica publishes accepted events to the
broker, exactly one replica owns each reactor (:mod:`.ownership`), consumes its events,
fires it and saves its state beside the last applied sequence (:mod:`.owner`), so the
reactor survives its owner's death. docs/deploy.md#events-on-nats-jetstream.
"""
