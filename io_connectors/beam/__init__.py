"""The Beam glue every provider uses: the generic splittable read and the batched write."""
