"""Lambda ``batch_scoring``: the batch state machine's own steps (``prepare_handler``, ``summary_handler``)."""
