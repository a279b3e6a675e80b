"""The control plane: durable state (``store``), package status (``status``), the reconciler
that turns stored packages into loaded ones (``reconciler``), the decisions on uploads and
deletes (``plane``), and the folder daemon (``daemon``)."""
