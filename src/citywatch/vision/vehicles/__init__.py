"""Vehicles: a COCO detector finds them, the body's colour is named, a plate read is given the
type and colour of the vehicle whose box holds it."""
