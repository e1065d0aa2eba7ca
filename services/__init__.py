"""CityOps services: the product's logic. Never imports dash."""
