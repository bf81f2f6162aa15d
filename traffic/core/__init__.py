"""Pure computations of the City Brain (no Django imports): Webster timing, queueing simulation,
robust statistics, the speed predictor's features and models, routing on a CSR graph, the network
generator and the traffic simulator. Unit-testable without a database."""
