#!/bin/bash
echo "creating compat notebook"
