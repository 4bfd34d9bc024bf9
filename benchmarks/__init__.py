"""Side-by-side overhead benchmarks: leadtrace against bare OpenTelemetry in the same run."""
